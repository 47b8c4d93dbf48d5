"""Editing stored history is caught by ``ledger verify``, which names the first bad entry."""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest

from engine.ledger.model import Account, AccountFlags, AccountKind, Ledger, Transfer
from engine.ledger.verify import verify_ledger
from engine.uow import Database as Store
from storage.sqlite import sqlite_path
from tests.integration.tampering import execute_raw

# SQLite and PostgreSQL only: tampering is raw SQL on the stored rows, and the in-memory database has none.


@pytest.fixture
async def history(store: Store) -> Store:
    await store.ledger.create_accounts(
        [
            Account("world", Ledger.ZMW, AccountKind.ISSUANCE),
            Account("alice", Ledger.ZMW, AccountKind.USER_WALLET, flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS),
            Account("bob", Ledger.ZMW, AccountKind.USER_WALLET, flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS),
        ]
    )
    for i in range(6):
        await store.ledger.create_transfers(
            [Transfer(f"t{i}", "world" if i % 2 == 0 else "alice", "alice" if i % 2 == 0 else "bob", 100)]
        )
    report = await verify_ledger(store.ledger)
    assert report.ok, report.problems
    return store


async def test_the_immutability_trigger_refuses_edits(history: Store, database_url: str) -> None:
    if database_url.startswith("sqlite:"):
        conn = sqlite3.connect(sqlite_path(database_url))
        with pytest.raises(sqlite3.IntegrityError, match="immutable"):
            conn.execute("UPDATE transfers SET amount = 1 WHERE seq = 3")
        conn.close()
    else:
        conn = await asyncpg.connect(database_url)
        with pytest.raises(asyncpg.RaiseError, match="immutable"):
            await conn.execute("DELETE FROM transfers WHERE seq = 3")
        await conn.close()


async def test_an_edited_amount_is_named_as_the_first_bad_entry(history: Store, database_url: str) -> None:
    await execute_raw(database_url, "UPDATE transfers SET amount = amount + 1 WHERE seq = 3")
    report = await verify_ledger(history.ledger)
    assert not report.ok
    assert (report.first_bad_seq, report.first_bad_id) == (3, "t2")
    assert "hash mismatch" in report.problems[0]


async def test_a_rewritten_hash_still_breaks_the_next_link(history: Store, database_url: str) -> None:
    # A forger who recomputes entry 3's own hash still breaks entry 4's link.
    await execute_raw(
        database_url, "UPDATE transfers SET reference = 'FORGED', hash = 'ab' || substr(hash, 3) WHERE seq = 3"
    )
    report = await verify_ledger(history.ledger)
    assert report.first_bad_seq == 3
    assert any("seq=4" in p for p in report.problems)


async def test_a_deleted_entry_shows_as_a_gap(history: Store, database_url: str) -> None:
    await execute_raw(database_url, "DELETE FROM transfers WHERE seq = 4")
    report = await verify_ledger(history.ledger)
    assert report.first_bad_seq == 5
    assert "sequence gap" in report.problems[0]


async def test_a_truncated_tail_disagrees_with_the_chain_head(history: Store, database_url: str) -> None:
    await execute_raw(database_url, "DELETE FROM transfers WHERE seq = 6")
    report = await verify_ledger(history.ledger)
    assert not report.ok
    assert any("chain head" in p for p in report.problems)


async def test_an_edited_balance_is_caught(history: Store, database_url: str) -> None:
    await execute_raw(database_url, "UPDATE accounts SET credits_posted = credits_posted + 500 WHERE id = 'bob'")
    report = await verify_ledger(history.ledger)
    assert not report.ok
    assert any("'bob'" in p and "differ from history" in p for p in report.problems)
