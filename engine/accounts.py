"""The platform's own accounts and how user and cluster accounts are named."""

from __future__ import annotations

from engine.ledger.model import Account, AccountFlags, AccountKind, CreateAccountResult, Ledger
from engine.model import Cluster, User
from engine.ports import LedgerWriter

# System accounts may go negative where that is their nature (like @world):
# issuance is where energy enters the platform, promotions pays starting
# credit, mobile-money clearing mirrors money held at the operators.
ENERGY_ISSUANCE = "system:issuance:KWH"
PROMOTIONS = "system:promotions:ZMW"
FEES = "system:fees:ZMW"
MOBILE_MONEY_CLEARING = "system:mobile_money:ZMW"

SYSTEM_ACCOUNTS = (
    Account(ENERGY_ISSUANCE, Ledger.KWH, AccountKind.ISSUANCE, owner="platform"),
    Account(PROMOTIONS, Ledger.ZMW, AccountKind.PROMOTIONS, owner="platform"),
    Account(FEES, Ledger.ZMW, AccountKind.FEES, owner="platform"),
    Account(MOBILE_MONEY_CLEARING, Ledger.ZMW, AccountKind.MOBILE_MONEY_CLEARING, owner="platform"),
)

WALLET_FLAGS = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
# An account's owner says whose it is: "user:<user id>" or "cluster:<cluster id>".
USER_OWNER = "user:"
CLUSTER_OWNER = "cluster:"


def user_accounts(user: User) -> list[Account]:
    owner = f"{USER_OWNER}{user.id}"
    return [
        Account(user.zmw_account_id, Ledger.ZMW, AccountKind.USER_WALLET, owner=owner, flags=WALLET_FLAGS),
        Account(user.kwh_account_id, Ledger.KWH, AccountKind.USER_WALLET, owner=owner, flags=WALLET_FLAGS),
    ]


def cluster_accounts(cluster: Cluster) -> list[Account]:
    owner = f"{CLUSTER_OWNER}{cluster.id}"
    return [
        # The pool holds the energy the cluster can still sell: it cannot go below zero,
        # which is what refuses a purchase larger than the available capacity.
        Account(cluster.pool_account_id, Ledger.KWH, AccountKind.CLUSTER_POOL, owner=owner, flags=WALLET_FLAGS),
        Account(cluster.treasury_account_id, Ledger.ZMW, AccountKind.CLUSTER_TREASURY, owner=owner, flags=WALLET_FLAGS),
    ]


async def ensure_system_accounts(ledger: LedgerWriter) -> None:
    results = await ledger.create_accounts(SYSTEM_ACCOUNTS)
    bad = [
        (a.id, r)
        for a, r in zip(SYSTEM_ACCOUNTS, results, strict=True)
        if r not in (CreateAccountResult.OK, CreateAccountResult.EXISTS)
    ]
    if bad:
        raise RuntimeError(f"system accounts disagree with what is stored: {bad}")
