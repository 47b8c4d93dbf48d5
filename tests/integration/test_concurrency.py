"""Fifty concurrent debits from one wallet: never an overdraft, each applied once or refused."""

from __future__ import annotations

import asyncio
from collections import Counter

from engine.ledger.model import Account, AccountFlags, AccountKind, CreateTransferResult, Ledger, Transfer
from engine.ledger.verify import verify_ledger
from engine.uow import Database as Store
from tests.conftest import StoreOpener
from tests.integration.conftest import ALL_BACKENDS

R = CreateTransferResult
# The in-memory database too: its stores on one database must queue like connections do.
pytestmark = ALL_BACKENDS
FUNDS, DEBIT, ATTEMPTS = 1000, 30, 50  # 33 debits fit, 17 must be refused


async def fund_wallet(store: Store) -> None:
    await store.ledger.create_accounts(
        [
            Account("world", Ledger.ZMW, AccountKind.ISSUANCE),
            Account("wallet", Ledger.ZMW, AccountKind.USER_WALLET, flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS),
            *[Account(f"shop{i}", Ledger.ZMW, AccountKind.USER_WALLET) for i in range(ATTEMPTS)],
        ]
    )
    assert await store.ledger.create_transfers([Transfer("fund", "world", "wallet", FUNDS)]) == [R.OK]


async def check_outcome(store: Store, results: list[list[R]]) -> None:
    flat = [r[0] for r in results]
    assert Counter(flat) == {R.OK: FUNDS // DEBIT, R.EXCEEDS_CREDITS: ATTEMPTS - FUNDS // DEBIT}
    wallet = (await store.ledger.lookup_accounts(["wallet"]))["wallet"]
    assert wallet.balance == FUNDS - DEBIT * (FUNDS // DEBIT)
    assert wallet.balance >= 0
    applied = [f"debit{i}" for i, r in enumerate(flat) if r is R.OK]
    stored = await store.ledger.lookup_transfers([f"debit{i}" for i in range(ATTEMPTS)])
    assert sorted(stored) == sorted(applied)  # every acknowledged debit exactly once, no refused one
    report = await verify_ledger(store.ledger)
    assert report.ok, report.problems


async def test_concurrent_debits_through_one_store(store: Store) -> None:
    await fund_wallet(store)
    results = await asyncio.gather(
        *(store.ledger.create_transfers([Transfer(f"debit{i}", "wallet", f"shop{i}", DEBIT)]) for i in range(ATTEMPTS))
    )
    await check_outcome(store, results)


async def test_concurrent_debits_through_many_connections(store: Store, open_test_store: StoreOpener) -> None:
    """Several stores (connections or pools) on one database, as several server processes would be."""
    await fund_wallet(store)
    stores = [store, *[await open_test_store() for _ in range(4)]]
    results = await asyncio.gather(
        *(
            stores[i % len(stores)].ledger.create_transfers([Transfer(f"debit{i}", "wallet", f"shop{i}", DEBIT)])
            for i in range(ATTEMPTS)
        )
    )
    await check_outcome(store, results)


async def test_the_same_transfer_sent_concurrently_applies_once(store: Store, open_test_store: StoreOpener) -> None:
    await fund_wallet(store)
    stores = [store, *[await open_test_store() for _ in range(3)]]
    retry = Transfer("once", "wallet", "shop0", 100)
    results = await asyncio.gather(*(stores[i % 4].ledger.create_transfers([retry]) for i in range(20)))
    assert Counter(r[0] for r in results) == {R.OK: 1, R.EXISTS: 19}
    assert (await store.ledger.lookup_accounts(["wallet"]))["wallet"].balance == FUNDS - 100
