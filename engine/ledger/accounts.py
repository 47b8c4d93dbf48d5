"""The platform's own accounts, and how the accounts of users and clusters are flagged and owned."""

from __future__ import annotations

from engine.ledger.model import Account, AccountFlags, AccountKind, CreateAccountResult, Ledger
from engine.ledger.ports import LedgerWriter

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


async def ensure_system_accounts(ledger: LedgerWriter) -> None:
    results = await ledger.create_accounts(SYSTEM_ACCOUNTS)
    bad = [
        (a.id, r)
        for a, r in zip(SYSTEM_ACCOUNTS, results, strict=True)
        if r not in (CreateAccountResult.OK, CreateAccountResult.EXISTS)
    ]
    if bad:
        raise RuntimeError(f"system accounts disagree with what is stored: {bad}")
