"""Registered users for the hop benchmark, made fast and directly in the database.

Registering a million users through the app would take hours (a scrypt PIN
hash each, a unit of work each). Instead the users rows and their two wallet
accounts are bulk-inserted in one transaction (SQLite ``executemany``,
PostgreSQL ``COPY``), shaped exactly as registration makes them: the accounts
come from :func:`engine.accounts.user_accounts` and start empty, like the
store's ``create_accounts`` leaves them. Money and energy then reach the
phones that the load uses through the store's own ``create_transfers`` in
batches, so the hash chain, the balances and ``enerlectra ledger verify``
stay exactly as if the app had done it. Nobody gets starting credit or a
welcome SMS: those are registration's side effects, not state a hop reads.

Every user shares one PIN hash (same salt): a shortcut for the benchmark
only; the cost of checking it is the real scrypt cost the hash records.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg

from engine.identity.model import User, user_accounts
from engine.identity.pins import hash_pin
from engine.kernel.language import Language
from engine.kernel.references import reference_for
from engine.ledger.accounts import ENERGY_ISSUANCE, MOBILE_MONEY_CLEARING
from engine.ledger.model import CreateTransferResult, Ledger, Transfer, TransferCode
from storage import open_store
from storage.sqlite import sqlite_path
from storage.tables import ACCOUNTS
from ussd_server.demo import CLUSTERS

BENCH_PIN = "4826"
# 95 + seven digits: ten million valid Zamtel numbers, none of them a demo user's.
PHONE_PREFIX = "+26095"
MAX_USERS = 10_000_000
# Enough that no random walk of small buys and sales comes near running out.
FUND_NGWEE = 100_000_00  # K100,000
FUND_WH = 1_000_000  # 1,000 kWh
CLUSTER_TOP_UP_WH = 1_000_000_000  # 1 GWh per cluster: buys never exhaust a pool
BATCH = 1000  # transfers per create_transfers call (the store's default LEDGER_MAX_BATCH)
USER_COLUMNS = ("id", "phone", "name", "language", "pin_hash", "pin_failures", "pin_locked_until", "created_at")

_FIRST = ("Mwila", "Chipo", "Natasha", "Joseph", "Bwalya", "Mutale", "Chanda", "Thandiwe", "Lubinda", "Nchimunya")
_LAST = ("Banda", "Phiri", "Mulenga", "Tembo", "Zulu", "Mwansa", "Sakala", "Lungu", "Daka", "Chileshe")


class PopulationError(RuntimeError):
    pass


def phone(index: int) -> str:
    """The E.164 number of bench user ``index`` (0-based)."""
    return f"{PHONE_PREFIX}{index:07d}"


def local(e164: str) -> str:
    """What a person types: 0950000123."""
    return "0" + e164[4:]


def name(index: int) -> str:
    return f"{_FIRST[index % 10]} {_LAST[(index // 10) % 10]}"


def bench_pin_hash(pepper: str) -> str:
    # log2_n 14 is the server's default: every PIN check in the load pays the real KDF cost.
    return hash_pin(BENCH_PIN, pepper=pepper.encode(), log2_n=14)


@dataclass(frozen=True, slots=True)
class Population:
    users: int  # bench users: phone(0) .. phone(users - 1)
    funded: int  # phone(0) .. phone(funded - 1) hold money and energy
    first_id: int
    seconds: float  # time to build it

    def phones(self, count: int | None = None) -> list[str]:
        return [phone(i) for i in range(self.users if count is None else count)]


def _users(first_id: int, count: int, pin_hash: str, now_us: int) -> Iterator[tuple[Any, ...]]:
    for i in range(count):
        yield (first_id + i, phone(i), name(i), str(Language.ENGLISH), pin_hash, 0, 0, now_us)


def _accounts(first_id: int, count: int, now_us: int) -> Iterator[tuple[Any, ...]]:
    for i in range(count):
        user = User(id=first_id + i, phone="", name="", language=Language.ENGLISH, pin_hash="")
        for account in user_accounts(user):
            yield (*ACCOUNTS.values(account)[:-1], now_us)  # stamped like create_accounts


def _insert_sqlite(url: str, count: int, pin_hash: str) -> int:
    conn = sqlite3.connect(sqlite_path(url), isolation_level=None)
    try:
        # Throwaway data: skip the fsyncs of the bulk load (the server's own writes keep synchronous=FULL).
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -200000")  # 200 MB: index pages stay in memory while loading
        conn.execute("BEGIN IMMEDIATE")
        try:
            first_id = int(conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM users").fetchone()[0])
            now = time.time_ns() // 1000
            marks = ",".join("?" * len(USER_COLUMNS))
            conn.executemany(
                f"INSERT INTO users ({', '.join(USER_COLUMNS)}) VALUES ({marks})",
                _users(first_id, count, pin_hash, now),
            )
            conn.executemany(
                f"INSERT INTO accounts ({', '.join(ACCOUNTS.names)}) VALUES ({','.join('?' * 10)})",
                _accounts(first_id, count, now),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return first_id
    finally:
        conn.close()


async def _insert_postgres(url: str, count: int, pin_hash: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            first_id = int(await conn.fetchval("SELECT COALESCE(MAX(id), 0) + 1 FROM users"))
            now = time.time_ns() // 1000
            # COPY stores the given ids even in a GENERATED ALWAYS column; the
            # identity sequence is then moved past them so app inserts go on from there.
            await conn.copy_records_to_table(
                "users", records=_users(first_id, count, pin_hash, now), columns=list(USER_COLUMNS)
            )
            await conn.execute("SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT MAX(id) FROM users))")
            await conn.copy_records_to_table(
                "accounts",
                records=_accounts(first_id, count, now),
                columns=list(ACCOUNTS.names),
            )
    finally:
        await conn.close()
    return first_id


async def analyze_postgres(url: str) -> None:
    """The CI server runs with autovacuum off: without this the planner keeps
    the statistics of near-empty tables and the app's cached plans scan."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def _funding(first_id: int, funded: int) -> Iterator[Transfer]:
    for i in range(funded):
        user_id = first_id + i
        for ledger, source, amount in (
            (Ledger.ZMW, MOBILE_MONEY_CLEARING, FUND_NGWEE),
            (Ledger.KWH, ENERGY_ISSUANCE, FUND_WH),
        ):
            operation = f"bench-fund:{user_id}:{ledger}"
            yield Transfer(
                id=operation,
                debit_account_id=source,
                credit_account_id=f"user:{user_id}:{ledger}",
                amount=amount,
                ledger=ledger,
                code=TransferCode.DEPOSIT if ledger is Ledger.ZMW else TransferCode.GENERIC,
                reference=reference_for(operation),
            )


def _top_ups() -> Iterator[Transfer]:
    # Like ClusterService.record_generation: issuance -> pool, so buys never find a cluster empty.
    for cluster in CLUSTERS:
        operation = f"bench-generation:{cluster.id}"
        yield Transfer(
            id=operation,
            debit_account_id=ENERGY_ISSUANCE,
            credit_account_id=f"cluster:{cluster.id}:pool",  # Cluster.pool_account_id
            amount=CLUSTER_TOP_UP_WH,
            ledger=Ledger.KWH,
            code=TransferCode.CLUSTER_GENERATION,
            reference=reference_for(operation),
        )


async def _apply_transfers(url: str, transfers: Iterator[Transfer]) -> None:
    store = await open_store(url, max_batch=BATCH)
    try:
        batch: list[Transfer] = []
        for transfer in [*transfers, None]:
            if transfer is not None:
                batch.append(transfer)
            if batch and (transfer is None or len(batch) == BATCH):
                results = await store.ledger.create_transfers(batch)
                refused = {r for r in results if r is not CreateTransferResult.OK}
                if refused:
                    raise PopulationError(f"the ledger refused bench funding: {sorted(map(str, refused))}")
                batch = []
    finally:
        await store.close()


async def populate(url: str, *, users: int, funded: int, pin_hash: str) -> Population:
    """Add ``users`` bench users to a migrated, demo-seeded database; fund the first ``funded``."""
    if not 0 <= funded <= users <= MAX_USERS:
        raise PopulationError(f"bad population: {users} users, {funded} funded")
    started = time.perf_counter()
    if url.startswith("sqlite:"):
        first_id = _insert_sqlite(url, users, pin_hash)
    else:
        first_id = await _insert_postgres(url, users, pin_hash)
    await _apply_transfers(url, iter([*_top_ups(), *_funding(first_id, funded)]))
    if not url.startswith("sqlite:"):
        await analyze_postgres(url)
    return Population(users=users, funded=funded, first_id=first_id, seconds=time.perf_counter() - started)
