"""Ledger benchmark: our ledger through the real stores against raw INSERTs.

Run with ``make bench-ledger`` or ``python -m bench.ledger [--seconds S]
[--rounds N] [--backend sqlite|postgres|all] [--profile] [--no-analyze]``.

For each backend it measures, in one run so that ratios survive a noisy
shared machine:

* ours, single: one ``store.ledger.create_transfers([t])`` per transfer, sequential,
  between random user wallets (small amounts, so every transfer succeeds);
* ours, batch50: 50 independent transfers per ``create_transfers`` call;
* raw, single / batch50: the floor for the same durability - INSERTs of rows
  shaped exactly like our ``transfers`` rows into a ``raw_transfers`` table
  in a separate database (file), one row or 50 rows per transaction.

``raw_transfers`` copies the ``transfers`` table of the migrated schema:
same columns, types, collations, NOT NULL/CHECK constraints, primary key,
UNIQUE id and all four secondary indexes. It has no foreign keys (nothing
to reference in its own database) and no triggers (ours fire only on UPDATE
and DELETE, so they cost an INSERT nothing).

Phases alternate raw/ours and swap which goes first every round (ABBA), and
each figure is the median over rounds; the ratio is the median of the
per-round ours/raw ratios, each taken from two phases run back to back.
After warm-up both PostgreSQL databases are ANALYZEd: a server with
autovacuum off (like our CI one) never refreshes statistics, and the store's
cached plans, made while ``transfers`` was nearly empty, then scan it
sequentially on every lookup, so ours would slow down as it grows
(``--no-analyze`` shows that). At the end the ledger is verified (hash
chain, balances, transfer count) and the benchmark fails if anything is off.
``--profile`` adds a cProfile breakdown of the single-transfer path. Results
go to ``bench/results/ledger-latest.json`` as flat dotted keys.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import math
import os
import platform
import pstats
import random
import re
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import asyncpg

from engine.identity.model import user_account_id
from engine.kernel.clock import SystemClock
from engine.kernel.references import reference_for
from engine.ledger.accounts import WALLET_FLAGS
from engine.ledger.model import (
    Account,
    AccountKind,
    CreateAccountResult,
    CreateTransferResult,
    Ledger,
    Transfer,
    TransferCode,
    TransferRecord,
)
from engine.ledger.operations import new_operation_id
from engine.ledger.verify import verify_ledger
from engine.uow import Database as Store
from storage import DEFAULT_MAX_BATCH, open_store
from storage.sqlite import sqlite_path
from storage.tables import TRANSFERS
from tests.support.postgres import throwaway_database

TRANSFER_COLUMNS = ", ".join(TRANSFERS.names)

RESULTS_PATH = Path(__file__).parent / "results" / "ledger-latest.json"

WALLETS = 100
# K10 million per wallet against at most K1 per transfer: a random walk of a
# few hundred thousand transfers cannot come near overdrawing anyone.
FUNDING_NGWEE = 1_000_000_000
MAX_AMOUNT_NGWEE = 100
SOURCE_ACCOUNT = "system:bench_source:ZMW"
WALLET_IDS = [user_account_id(i, "ZMW") for i in range(1, WALLETS + 1)]

MODES = {"single": 1, "batch50": 50}
# Raw first in round 1 ("raw, ours, raw, ours"), then the order flips each round.
SIDES = ("raw", "ours")

DEFAULT_SECONDS = 4.0
DEFAULT_ROUNDS = 3
# With the defaults: 2 backends x 4 phases x (3 rounds x 4 s + 1 s warm-up)
# ~ 105 s of phases, plus set-up and verification: about 2 minutes in all.
WARMUP_FRACTION = 0.25
MAX_WARMUP_S = 1.0
PROFILE_TOP = 20

RAW_TABLE = "raw_transfers"
_RAW_COLUMN_COUNT = len(TRANSFERS.names)


class BenchmarkError(RuntimeError):
    """The benchmark saw something wrong (a refused transfer, a ledger that does not verify)."""


# --- workload -----------------------------------------------------------------


class Workload:
    """Realistic small transfers between random wallets, shaped like a USSD money transfer."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def transfer(self) -> Transfer:
        debit, credit = self._rng.sample(WALLET_IDS, 2)
        operation = new_operation_id()
        return Transfer(
            id=f"{operation}:payment",
            debit_account_id=debit,
            credit_account_id=credit,
            amount=self._rng.randint(1, MAX_AMOUNT_NGWEE),
            ledger=Ledger.ZMW,
            code=TransferCode.MONEY_TRANSFER,
            reference=reference_for(operation),
        )

    def transfers(self, n: int) -> list[Transfer]:
        return [self.transfer() for _ in range(n)]


class RawRows:
    """Rows of exactly the shape our store writes for the same transfers.

    Built through :meth:`storage.tables.TRANSFERS.values`, so ids, references and
    timestamps have the same lengths; a random 64-hex string stands in for the
    chain hash.
    """

    def __init__(self, workload: Workload) -> None:
        self._workload = workload
        self._clock = SystemClock()
        self._seq = 0

    def take(self, n: int) -> list[tuple[Any, ...]]:
        rows = []
        for t in self._workload.transfers(n):
            self._seq += 1
            record = TransferRecord(
                id=t.id,
                debit_account_id=t.debit_account_id,
                credit_account_id=t.credit_account_id,
                amount=t.amount,
                ledger=Ledger.ZMW,
                code=t.code,
                flags=t.flags,
                pending_id=None,
                timeout_s=0,
                reference=t.reference,
                timestamp=self._clock.now_us(),
                seq=self._seq,
                hash=secrets.token_hex(32),
                request_debit_account_id=t.debit_account_id,
                request_credit_account_id=t.credit_account_id,
                request_amount=t.amount,
                request_ledger=Ledger.ZMW,
            )
            rows.append(TRANSFERS.values(record))
        return rows


# --- targets: something that writes n items in one transaction ------------------


class Target(Protocol):
    async def write(self, n: int) -> None: ...


class OursTarget:
    """Our ledger, through the store's public port."""

    def __init__(self, store: Store, workload: Workload) -> None:
        self.store = store
        self._workload = workload
        self.acknowledged = 0  # transfers the store answered OK; verify must find exactly these

    async def write(self, n: int) -> None:
        results = await self.store.ledger.create_transfers(self._workload.transfers(n))
        refused = [r for r in results if r is not CreateTransferResult.OK]
        if refused:
            # Every transfer is designed to succeed: a refusal means a bug, not load.
            raise BenchmarkError(f"the ledger refused transfers that must succeed: {refused[:5]}")
        self.acknowledged += n


class RawSqliteTarget:
    """A plain sqlite3 connection, same durability as the store: WAL, synchronous=FULL.

    It runs on the loop's thread: the floor has no executor hand-off, which is
    part of what the store pays to keep the event loop free during the fsync.
    """

    def __init__(self, path: str, rows: RawRows) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = FULL")
        self._rows = rows
        marks = ",".join("?" * _RAW_COLUMN_COUNT)
        self._insert = f"INSERT INTO {RAW_TABLE} ({TRANSFER_COLUMNS}) VALUES ({marks})"

    def create_table(self, ddl: Sequence[str]) -> None:
        for statement in ddl:
            self._conn.execute(statement)

    async def write(self, n: int) -> None:
        rows = self._rows.take(n)
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            if n == 1:
                self._conn.execute(self._insert, rows[0])
            else:
                self._conn.executemany(self._insert, rows)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._conn.close()


class RawPostgresTarget:
    """One asyncpg connection; a batch goes as column arrays through unnest, like the store's writes.

    Each write is BEGIN, one INSERT, COMMIT: three round trips, as an
    application transaction would be (the store's single transfer takes six).
    """

    def __init__(self, conn: Any, rows: RawRows, column_types: Sequence[str]) -> None:
        self._conn = conn
        self._rows = rows
        values = ", ".join(f"${i}" for i in range(1, len(column_types) + 1))
        arrays = ", ".join(f"${i}::{t}[]" for i, t in enumerate(column_types, start=1))
        self._insert_one = f"INSERT INTO {RAW_TABLE} ({TRANSFER_COLUMNS}) VALUES ({values})"
        self._insert_many = f"INSERT INTO {RAW_TABLE} ({TRANSFER_COLUMNS}) SELECT * FROM unnest({arrays})"

    @classmethod
    async def connect(cls, url: str, rows: RawRows) -> RawPostgresTarget:
        conn = await asyncpg.connect(url)
        # The array casts unnest needs, in TRANSFER_COLUMNS order, from the table itself.
        found = await conn.fetch(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = $1",
            RAW_TABLE,
        )
        types = {r["column_name"]: r["data_type"] for r in found}
        return cls(conn, rows, [types[c] for c in TRANSFERS.names])

    async def write(self, n: int) -> None:
        rows = self._rows.take(n)
        async with self._conn.transaction():
            if n == 1:
                await self._conn.execute(self._insert_one, *rows[0])
            else:
                await self._conn.execute(self._insert_many, *[list(c) for c in zip(*rows, strict=True)])

    async def close(self) -> None:
        await self._conn.close()


# --- raw table schema, copied from the migrated ledger schema --------------------

_FOREIGN_KEY = re.compile(r"\s+REFERENCES\s+\w+\s*\([^)]*\)", re.IGNORECASE)
_TRANSFERS_NAME = re.compile(r"\btransfers\b")


def sqlite_raw_ddl(ledger_path: str) -> list[str]:
    """``transfers`` and its indexes as the migrations left them, renamed, foreign keys removed.

    Read from the live schema rather than the migration file, so later
    migrations that alter the table are followed automatically.
    """
    conn = sqlite3.connect(ledger_path)
    try:
        rows = conn.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'transfers' AND type IN ('table', 'index') "
            "AND sql IS NOT NULL ORDER BY type = 'index', name"
        ).fetchall()
    finally:
        conn.close()
    ddl = [_TRANSFERS_NAME.sub(RAW_TABLE, _FOREIGN_KEY.sub("", sql)) for (sql,) in rows]
    if len(ddl) < 2 or not ddl[0].startswith(f"CREATE TABLE {RAW_TABLE}") or "REFERENCES" in ddl[0].upper():
        raise BenchmarkError(f"could not derive {RAW_TABLE} from the ledger schema: {ddl}")
    return ddl


async def create_postgres_raw_table(url: str) -> None:
    """Migrate the raw database like a ledger one and copy ``transfers`` with LIKE ... INCLUDING ALL.

    INCLUDING ALL brings columns, collations, defaults, CHECK constraints, the
    primary key, UNIQUE and every index; LIKE never copies foreign keys or triggers.
    """
    store = await open_store(url, migrate=True)
    await store.close()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"CREATE TABLE {RAW_TABLE} (LIKE transfers INCLUDING ALL)")
    finally:
        await conn.close()


# --- databases -------------------------------------------------------------------


@contextlib.asynccontextmanager
async def postgres_databases() -> AsyncIterator[tuple[str, str]]:
    """Two throwaway databases (ledger, raw), dropped at the end whatever happens."""
    async with throwaway_database("bench") as ledger_url, throwaway_database("bench_raw") as raw_url:
        yield ledger_url, raw_url


@contextlib.asynccontextmanager
async def sqlite_files() -> AsyncIterator[tuple[str, str]]:
    """A ledger URL and a raw database path in one temporary directory (on the same disk)."""
    with tempfile.TemporaryDirectory(prefix="enerlectra-bench-") as directory:
        yield f"sqlite:///{directory}/ledger.db", f"{directory}/raw.db"


async def open_ledger(url: str) -> Store:
    """A migrated store with a source account and WALLETS funded user wallets."""
    store = await open_store(url, clock=SystemClock(), max_batch=DEFAULT_MAX_BATCH, migrate=True)
    accounts = [Account(SOURCE_ACCOUNT, Ledger.ZMW, AccountKind.ISSUANCE, owner="bench")]
    accounts += [
        Account(w, Ledger.ZMW, AccountKind.USER_WALLET, owner=f"user:{i}", flags=WALLET_FLAGS)
        for i, w in enumerate(WALLET_IDS, start=1)
    ]
    if any(r is not CreateAccountResult.OK for r in await store.ledger.create_accounts(accounts)):
        raise BenchmarkError("could not create the benchmark accounts")
    funding = [
        Transfer(f"bench-fund:{w}", SOURCE_ACCOUNT, w, FUNDING_NGWEE, Ledger.ZMW, TransferCode.DEPOSIT)
        for w in WALLET_IDS
    ]
    if any(r is not CreateTransferResult.OK for r in await store.ledger.create_transfers(funding)):
        raise BenchmarkError("could not fund the benchmark wallets")
    return store


# --- measuring ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Phase:
    items: int
    wall_s: float
    cpu_s: float  # this process, all threads (for SQLite that includes the database engine itself)
    latencies_s: list[float]

    @property
    def rate(self) -> float:
        return self.items / self.wall_s

    @property
    def cpu_us_per_item(self) -> float:
        return self.cpu_s / self.items * 1e6


async def run_phase(target: Target, per_write: int, seconds: float) -> Phase:
    """Write ``per_write`` items per transaction, back to back, for ``seconds``."""
    latencies: list[float] = []
    cpu_start = time.process_time()
    start = now = time.perf_counter()
    deadline = start + seconds
    while now < deadline:
        await target.write(per_write)
        after = time.perf_counter()
        latencies.append(after - now)
        now = after
    return Phase(len(latencies) * per_write, now - start, time.process_time() - cpu_start, latencies)


@dataclass(frozen=True, slots=True)
class Options:
    seconds: float  # per measured phase
    rounds: int
    profile: bool
    analyze: bool  # PostgreSQL: refresh planner statistics after warm-up


Samples = dict[tuple[str, str], list[Phase]]  # (side, mode) -> one phase per round


async def measure(
    targets: dict[str, Target], opts: Options, *, label: str, after_warmup: Callable[[], Awaitable[None]] | None
) -> Samples:
    warmup = min(MAX_WARMUP_S, opts.seconds * WARMUP_FRACTION)
    progress(f"[{label}] warm-up, {warmup:.1f} s per phase")
    for per_write in MODES.values():
        for side in SIDES:
            await run_phase(targets[side], per_write, warmup)
    if after_warmup is not None:
        await after_warmup()
    samples: Samples = defaultdict(list)
    for r in range(opts.rounds):
        # ABBA: each side leads in every other round, so steady drift of the
        # machine's speed favours neither side's median.
        order = SIDES if r % 2 == 0 else SIDES[::-1]
        progress(f"[{label}] round {r + 1}/{opts.rounds}: {' then '.join(order)}, {opts.seconds:g} s per phase")
        for mode, per_write in MODES.items():
            for side in order:
                samples[side, mode].append(await run_phase(targets[side], per_write, opts.seconds))
    return samples


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, ``q`` in (0, 100]."""
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(q / 100 * len(ordered)))) - 1]


@dataclass(frozen=True, slots=True)
class ModeSummary:
    ours_rate: float
    raw_rate: float
    ratio: float
    ours_cpu_us: float
    raw_cpu_us: float
    ours_p50_ms: float
    ours_p99_ms: float
    raw_p50_ms: float
    raw_p99_ms: float
    ours_rounds: list[float]
    raw_rounds: list[float]

    @classmethod
    def of(cls, ours: list[Phase], raw: list[Phase]) -> ModeSummary:
        # Latencies pooled over rounds: per write (one transfer in single mode, one batch in batch50).
        ours_lat = [x for p in ours for x in p.latencies_s]
        raw_lat = [x for p in raw for x in p.latencies_s]
        return cls(
            ours_rate=statistics.median(p.rate for p in ours),
            raw_rate=statistics.median(p.rate for p in raw),
            ratio=statistics.median(o.rate / r.rate for o, r in zip(ours, raw, strict=True)),
            ours_cpu_us=statistics.median(p.cpu_us_per_item for p in ours),
            raw_cpu_us=statistics.median(p.cpu_us_per_item for p in raw),
            ours_p50_ms=percentile(ours_lat, 50) * 1e3,
            ours_p99_ms=percentile(ours_lat, 99) * 1e3,
            raw_p50_ms=percentile(raw_lat, 50) * 1e3,
            raw_p99_ms=percentile(raw_lat, 99) * 1e3,
            ours_rounds=[p.rate for p in ours],
            raw_rounds=[p.rate for p in raw],
        )


@dataclass(frozen=True, slots=True)
class BackendResult:
    backend: str
    modes: dict[str, ModeSummary]
    verified_entries: int
    profile: str | None
    facts: dict[str, Any] = field(default_factory=dict)  # JSON keys under ledger.<backend>.
    notes: list[str] = field(default_factory=list)  # printed under the table


# --- profiling ------------------------------------------------------------------------

# cProfile times wall clock in the loop's thread. Its epoll wait is time in
# which nothing ran here: waiting for the PostgreSQL server, or for the
# SQLite executor thread running BEGIN/COMMIT (and the commit's fsync).
# Functions matching a bucket keep their own time; everything else (enum,
# dataclasses, builtins, hashlib, ...) is charged to whoever called it, in
# proportion to the time each caller spent in it.
_BUCKETS = (
    ("waiting: event loop idle in epoll", ("select.epoll",)),
    ("sqlite3 C calls on the loop thread", ("sqlite3.",)),
    ("asyncpg driver", ("asyncpg",)),
    ("hand-off to the commit thread", ("concurrent/futures", "_queue", "threading.py")),
    ("asyncio loop + socket syscalls", ("/asyncio/", "selectors.py", "_contextvars", "_socket")),
    ("ledger rules (engine/ledger)", ("/engine/ledger/rules.py", "/engine/ledger/model.py")),
    ("hash chain (sha256 + json)", ("/engine/ledger/chain.py",)),
    ("storage adapter (Python)", ("/storage/",)),
    ("benchmark harness (building transfers)", ("/bench/",)),
)
_OTHER = "other"

FuncKey = tuple[str, int, str]  # (filename, line, function), as pstats keys them


def explicit_bucket(func: FuncKey) -> str | None:
    where = f"{func[0]} {func[2]}"
    for name, needles in _BUCKETS:
        if any(n in where for n in needles):
            return name
    return None


class Attribution:
    """Charges each profiled function's own time to a bucket, through its callers if need be."""

    def __init__(self, stats: dict[FuncKey, tuple[Any, ...]]) -> None:
        self._stats = stats
        self._memo: dict[FuncKey, dict[str, float]] = {}
        self._visiting: set[FuncKey] = set()

    def totals(self) -> dict[str, float]:
        spent: dict[str, float] = defaultdict(float)
        for func, (_cc, _nc, tottime, _ct, _callers) in self._stats.items():
            for bucket, share in self.shares(func).items():
                spent[bucket] += tottime * share
        return spent

    def shares(self, func: FuncKey) -> dict[str, float]:
        if func in self._memo:
            return self._memo[func]
        fixed = explicit_bucket(func)
        if fixed is not None:
            return self._memo.setdefault(func, {fixed: 1.0})
        if func in self._visiting or func not in self._stats:
            return {_OTHER: 1.0}  # recursion, or the profiler's own root
        self._visiting.add(func)
        # callers: {caller: (calls, primitive calls, own time from that caller, cumulative)}
        callers: dict[FuncKey, tuple[Any, ...]] = self._stats[func][4]
        weight = sum(v[2] for v in callers.values())
        result: dict[str, float] = defaultdict(float)
        for caller, v in callers.items():
            for bucket, share in self.shares(caller).items():
                result[bucket] += share * (v[2] / weight if weight > 0 else 1 / len(callers))
        self._visiting.discard(func)
        return self._memo.setdefault(func, dict(result) or {_OTHER: 1.0})


async def profile_single(target: OursTarget, seconds: float, label: str) -> str:
    """Profile the single-transfer path; returns a per-transfer breakdown and the top functions."""
    progress(f"[{label}] profiling single transfers for {seconds:.1f} s")
    profiler = cProfile.Profile()
    profiler.enable()
    phase = await run_phase(target, 1, seconds)
    profiler.disable()
    stats = pstats.Stats(profiler)
    spent = Attribution(stats.stats).totals()  # type: ignore[attr-defined]
    total = sum(spent.values())
    out = io.StringIO()
    out.write(
        f"{label}: {phase.items} transfers under cProfile: {phase.wall_s / phase.items * 1e6:.0f} us wall, "
        f"{phase.cpu_us_per_item:.0f} us process CPU per transfer (the profiler inflates the Python parts;\n"
        "the table above has the unprofiled figures). Time in the event loop's thread, per transfer:\n"
    )
    for name, seconds_spent in sorted(spent.items(), key=lambda kv: -kv[1]):
        out.write(f"  {name:<42} {seconds_spent / phase.items * 1e6:8.1f} us  {seconds_spent / total:6.1%}\n")
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(PROFILE_TOP)
    return out.getvalue()


# --- one backend ----------------------------------------------------------------------


async def bench_sqlite(opts: Options) -> BackendResult:
    async with sqlite_files() as (url, raw_path):
        store = await open_ledger(url)
        raw = RawSqliteTarget(raw_path, RawRows(Workload(seed=2)))
        try:
            raw.create_table(sqlite_raw_ddl(sqlite_path(url)))
            return await bench_targets("sqlite", store, raw, opts)
        finally:
            raw.close()
            await store.close()


async def bench_postgres(opts: Options) -> BackendResult:
    async with postgres_databases() as (url, raw_url):
        await create_postgres_raw_table(raw_url)
        facts = await postgres_facts(url)

        async def refresh_statistics() -> None:
            await analyze(url)
            await analyze(raw_url)

        store = await open_ledger(url)
        try:
            raw = await RawPostgresTarget.connect(raw_url, RawRows(Workload(seed=2)))
            try:
                result = await bench_targets(
                    "postgres", store, raw, opts, after_warmup=refresh_statistics if opts.analyze else None
                )
            finally:
                await raw.close()
        finally:
            await store.close()
    return replace(result, facts=facts, notes=postgres_notes(facts, analyzed=opts.analyze))


async def postgres_facts(url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT name, setting FROM pg_settings WHERE name IN "
            "('server_version', 'autovacuum', 'synchronous_commit', 'fsync', 'wal_sync_method')"
        )
    finally:
        await conn.close()
    return {f"server.{r['name']}": r["setting"] for r in rows}


async def analyze(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def postgres_notes(facts: dict[str, Any], *, analyzed: bool) -> list[str]:
    if facts.get("server.autovacuum") != "off":
        return []
    if analyzed:
        return [
            "postgres: the server runs with autovacuum=off, so both databases were ANALYZEd after warm-up;"
            " without it the store's cached plans, made on a near-empty table, scan transfers sequentially"
            " and ours slows down as the table grows (see --no-analyze)."
        ]
    return ["postgres: autovacuum=off and --no-analyze: statistics never refreshed, ours slows as transfers grows."]


async def bench_targets(
    backend: str,
    store: Store,
    raw: Target,
    opts: Options,
    *,
    after_warmup: Callable[[], Awaitable[None]] | None = None,
) -> BackendResult:
    ours = OursTarget(store, Workload(seed=1))
    ours.acknowledged = WALLETS  # the funding transfers
    samples = await measure({"ours": ours, "raw": raw}, opts, label=backend, after_warmup=after_warmup)
    profile_text = await profile_single(ours, opts.seconds, backend) if opts.profile else None
    entries = await verify(store, expected_entries=ours.acknowledged, label=backend)
    modes = {mode: ModeSummary.of(samples["ours", mode], samples["raw", mode]) for mode in MODES}
    return BackendResult(backend, modes, entries, profile_text)


async def verify(store: Store, *, expected_entries: int, label: str) -> int:
    """A benchmark that corrupts the ledger is worthless: check chain, balances and count."""
    progress(f"[{label}] verifying the ledger")
    report = await verify_ledger(store.ledger)
    if not report.ok:
        raise BenchmarkError(f"{label}: ledger verification failed:\n  " + "\n  ".join(report.problems))
    if report.entries != expected_entries:
        raise BenchmarkError(f"{label}: ledger holds {report.entries} transfers, {expected_entries} were acknowledged")
    return report.entries


# --- output -----------------------------------------------------------------------


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def format_table(results: Sequence[BackendResult], *, seconds: float, rounds: int) -> str:
    lines = [
        f"Ledger benchmark: {rounds} rounds x {seconds:g} s per phase, medians over rounds; "
        "ratio = median of per-round ours/raw.",
        "CPU = this process's CPU time (user+sys, all threads) per transfer or row; "
        "wall = 1e6 / rate; the difference is time spent waiting (DB server, fsync).",
        "",
        f"{'backend':<9} {'mode':<8} {'ours tx/s':>10} {'raw rows/s':>11} {'ratio':>7} "
        f"{'ours wall us':>13} {'ours CPU us':>12} {'raw wall us':>12} {'raw CPU us':>11}",
    ]
    for result in results:
        for mode, s in result.modes.items():
            lines.append(
                f"{result.backend:<9} {mode:<8} {s.ours_rate:>10,.0f} {s.raw_rate:>11,.0f} {s.ratio:>6.2f}x "
                f"{1e6 / s.ours_rate:>13.0f} {s.ours_cpu_us:>12.0f} {1e6 / s.raw_rate:>12.0f} {s.raw_cpu_us:>11.0f}"
            )
    lines += ["", f"{'single-transfer latency (ms)':<30} {'ours p50':>9} {'ours p99':>9} {'raw p50':>9} {'raw p99':>9}"]
    for result in results:
        s = result.modes["single"]
        lines.append(
            f"{result.backend:<30} {s.ours_p50_ms:>9.2f} {s.ours_p99_ms:>9.2f} "
            f"{s.raw_p50_ms:>9.2f} {s.raw_p99_ms:>9.2f}"
        )
    lines += ["", "transfers verified (hash chain, balances, count): "]
    lines[-1] += ", ".join(f"{r.backend} {r.verified_entries:,}" for r in results)
    lines += [note for r in results for note in r.notes]
    return "\n".join(lines)


def result_keys(result: BackendResult) -> dict[str, Any]:
    prefix = f"ledger.{result.backend}"
    out: dict[str, Any] = {f"{prefix}.verified_transfers": result.verified_entries}
    out |= {f"{prefix}.{key}": value for key, value in result.facts.items()}
    for mode, s in result.modes.items():
        out |= {
            f"{prefix}.{mode}.tps": round(s.ours_rate, 1),
            f"{prefix}.{mode}.tps_min": round(min(s.ours_rounds), 1),
            f"{prefix}.{mode}.tps_max": round(max(s.ours_rounds), 1),
            f"{prefix}.{mode}.cpu_us_per_tx": round(s.ours_cpu_us, 1),
            f"{prefix}.raw_{mode}.rps": round(s.raw_rate, 1),
            f"{prefix}.raw_{mode}.rps_min": round(min(s.raw_rounds), 1),
            f"{prefix}.raw_{mode}.rps_max": round(max(s.raw_rounds), 1),
            f"{prefix}.raw_{mode}.cpu_us_per_row": round(s.raw_cpu_us, 1),
        }
    single = result.modes["single"]
    out |= {
        f"{prefix}.ratio_vs_raw": round(single.ratio, 4),
        f"{prefix}.batch50_ratio_vs_raw": round(result.modes["batch50"].ratio, 4),
        f"{prefix}.single.p50_ms": round(single.ours_p50_ms, 3),
        f"{prefix}.single.p99_ms": round(single.ours_p99_ms, 3),
        f"{prefix}.raw_single.p50_ms": round(single.raw_p50_ms, 3),
        f"{prefix}.raw_single.p99_ms": round(single.raw_p99_ms, 3),
    }
    return out


def machine_keys(*, seconds: float, rounds: int, started: datetime, load_before: float) -> dict[str, Any]:
    return {
        "machine.nproc": os.cpu_count(),
        "machine.python": platform.python_version(),
        "machine.platform": platform.platform(),
        "machine.sqlite": sqlite3.sqlite_version,
        "machine.loadavg_1m_before": round(load_before, 2),
        "machine.loadavg_1m_after": round(os.getloadavg()[0], 2),
        "timestamp": started.isoformat(timespec="seconds"),
        "bench.seconds_per_phase": seconds,
        "bench.rounds": rounds,
        "bench.wallets": WALLETS,
        "bench.raw_table": "same columns, types, constraints and indexes as transfers; no foreign keys",
    }


# --- entry point ----------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ledger", description="Ledger benchmark: ours vs raw INSERTs."
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help="seconds per measured phase")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="alternating rounds (medians reported)")
    parser.add_argument("--profile", action="store_true", help="also profile the single-transfer path (cProfile)")
    parser.add_argument(
        "--no-analyze",
        dest="analyze",
        action="store_false",
        help="PostgreSQL: do not ANALYZE after warm-up (shows the stale-plan slowdown when autovacuum is off)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS_PATH, help="where to write the JSON results")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.rounds < 1:
        parser.error("--seconds must be positive and --rounds at least 1")
    return args


async def run(args: argparse.Namespace) -> list[BackendResult]:
    opts = Options(seconds=args.seconds, rounds=args.rounds, profile=args.profile, analyze=args.analyze)
    backends = ("sqlite", "postgres") if args.backend == "all" else (args.backend,)
    results = []
    for backend in backends:
        bench = bench_sqlite if backend == "sqlite" else bench_postgres
        results.append(await bench(opts))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started, load_before = datetime.now(UTC), os.getloadavg()[0]
    try:
        results = asyncio.run(run(args))
    except BenchmarkError as exc:
        print(f"BENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted (throwaway databases dropped)", file=sys.stderr)
        return 130
    print(format_table(results, seconds=args.seconds, rounds=args.rounds))
    for result in results:
        if result.profile:
            print(f"\n--- profile: {result.backend}, single transfers ---\n{result.profile}")
    keys = machine_keys(seconds=args.seconds, rounds=args.rounds, started=started, load_before=load_before)
    for result in results:
        keys |= result_keys(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(keys, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
