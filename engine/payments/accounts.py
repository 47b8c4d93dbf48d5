"""One clearing account per provider: it mirrors the money that provider holds for us.

A deposit debits it and credits the wallet; a withdrawal's reservation
credits it when posted. So minus its balance is, at any moment, successful
deposits less successful withdrawals through that provider: what the
provider's own statement must show (see :mod:`engine.payments.reconcile`).
"""

from __future__ import annotations

from engine.ledger.model import Account, AccountKind, CreateAccountResult, Ledger
from engine.ledger.ports import LedgerWriter
from engine.payments.model import MOBILE_MONEY, Provider


def clearing_account(provider: Provider) -> str:
    return f"system:mobile_money:{provider}:ZMW"


CLEARING_ACCOUNTS = tuple(
    Account(clearing_account(p), Ledger.ZMW, AccountKind.MOBILE_MONEY_CLEARING, owner="platform") for p in MOBILE_MONEY
)


async def ensure_clearing_accounts(ledger: LedgerWriter) -> None:
    results = await ledger.create_accounts(CLEARING_ACCOUNTS)
    bad = [
        (a.id, r)
        for a, r in zip(CLEARING_ACCOUNTS, results, strict=True)
        if r not in (CreateAccountResult.OK, CreateAccountResult.EXISTS)
    ]
    if bad:
        raise RuntimeError(f"clearing accounts disagree with what is stored: {bad}")
