"""SQLite adapter: the embedded default. Connections, transactions and migrations; the SQL is in storage.repositories.

Durability and isolation: WAL journal, ``synchronous=FULL`` (a commit is on
disk before it is acknowledged), ``BEGIN IMMEDIATE`` for every write
transaction (writers queue up front instead of failing at commit), foreign
keys on, and a busy timeout so several processes can share one file.

One connection writes (an asyncio lock hands it to one unit of work at a
time); another serves reads, which WAL lets run beside a writer. ``BEGIN``
and ``COMMIT`` run in a one-thread executor, so the event loop never waits on
the fsync or on another process's write lock. Statements inside a
transaction run inline: they touch pages the write lock already holds.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from engine.kernel.clock import Clock
from engine.uow import Repositories
from storage.dialect import SQLITE, Batch, Row, Sql
from storage.migrations import pending_migrations
from storage.repositories import SqlDatabaseRepositories, SqlRepositories

T = TypeVar("T")
BUSY_TIMEOUT_MS = 10_000


def sqlite_path(url: str) -> str:
    """``sqlite:///var/db.sqlite`` -> ``var/db.sqlite``; ``sqlite:////tmp/x`` -> ``/tmp/x``."""
    if not url.startswith("sqlite:///"):
        raise ValueError("SQLite URLs look like sqlite:///relative/path or sqlite:////absolute/path")
    return url[len("sqlite:///") :]


def connect(path: str) -> sqlite3.Connection:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _text(statement: Sql) -> str:
    if statement.sqlite is None:
        raise NotImplementedError(f"PostgreSQL only: {statement.postgres}")
    return statement.sqlite


def _bind(statement: Sql, args: tuple[Any, ...]) -> Sequence[Any]:
    """SQLite takes a list parameter as a JSON array (the statement reads it with json_each)."""
    if not statement.arrays:
        return args
    bound = list(args)
    for i in statement.arrays:
        bound[i] = json.dumps(bound[i])
    return bound


class SqliteConnection:
    """storage.dialect.Executor on one connection, inline on the event loop."""

    dialect = SQLITE

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: Sql, *args: Any) -> list[Row]:
        return self._conn.execute(_text(sql), _bind(sql, args)).fetchall()

    async def fetch_one(self, sql: Sql, *args: Any) -> Row | None:
        row: Row | None = self._conn.execute(_text(sql), _bind(sql, args)).fetchone()
        return row

    async def execute(self, sql: Sql, *args: Any) -> int:
        return self._conn.execute(_text(sql), _bind(sql, args)).rowcount

    async def execute_batch(self, batch: Batch, rows: Sequence[Sequence[Any]], *args: Any) -> int:
        before = self._conn.total_changes
        self._conn.executemany(batch.sqlite, [(*row, *args) for row in rows] if args else rows)
        return self._conn.total_changes - before


class SqliteEachStatement:
    """storage.dialect.Executor whose every statement is a write transaction of its own.

    Each runs whole (``BEGIN IMMEDIATE``, the statement, ``COMMIT``) in the
    commit thread under the write lock: the database write lock makes an
    outbox claim exclusive, across processes too, and the fsync never blocks
    the loop.
    """

    dialect = SQLITE

    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    async def fetch(self, sql: Sql, *args: Any) -> list[Row]:
        text, bound = _text(sql), _bind(sql, args)
        result, _ = await self._database.write_alone(lambda conn: conn.execute(text, bound).fetchall())
        rows: list[Row] = result
        return rows

    async def fetch_one(self, sql: Sql, *args: Any) -> Row | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def execute(self, sql: Sql, *args: Any) -> int:
        text, bound = _text(sql), _bind(sql, args)
        _, changed = await self._database.write_alone(lambda conn: conn.execute(text, bound))
        return changed

    async def execute_batch(self, batch: Batch, rows: Sequence[Sequence[Any]], *args: Any) -> int:
        values = [(*row, *args) for row in rows]
        _, changed = await self._database.write_alone(lambda conn: conn.executemany(batch.sqlite, values))
        return changed


class SqliteDatabase(SqlDatabaseRepositories):
    """engine.uow.Database on one SQLite file."""

    backend = "sqlite"

    def __init__(self, path: str, *, clock: Clock, max_batch: int) -> None:
        self.path = path
        self.clock = clock
        self.max_batch = max_batch
        self._writer = connect(path)
        self._reader = connect(path)
        self._write_lock = asyncio.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-commit")
        self._closed = False
        # Every transaction uses the one writer connection; the write lock hands it over.
        self._transaction = SqliteConnection(self._writer)
        super().__init__(
            reads=SqliteConnection(self._reader), writes=SqliteEachStatement(self), atomic=self.atomic, clock=clock
        )

    @classmethod
    async def open(cls, path: str, *, clock: Clock, max_batch: int, migrate: bool = False) -> SqliteDatabase:
        database = cls(path, clock=clock, max_batch=max_batch)
        if migrate:
            try:
                await database.migrate()
            except BaseException:
                await database.close()
                raise
        return database

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def migrate(self) -> list[str]:
        """Apply pending migrations; returns the names applied."""
        async with self._write_lock:
            self._writer.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at INTEGER NOT NULL)"
            )
            applied = {r[0]: r[1] for r in self._writer.execute("SELECT version, checksum FROM schema_migrations")}
            done = []
            for m in pending_migrations("sqlite", applied):
                script = (
                    "BEGIN IMMEDIATE;\n"
                    f"{m.sql}\n"
                    "INSERT INTO schema_migrations (version, name, checksum, applied_at) "
                    f"VALUES ({m.version}, '{m.name}', '{m.checksum}', {self.clock.now_us()});\n"
                    "COMMIT;"
                )
                try:
                    await self._run(self._writer.executescript, script)
                except BaseException:
                    if self._writer.in_transaction:
                        self._writer.execute("ROLLBACK")
                    raise
                done.append(f"{m.version:04d}_{m.name}")
            return done

    async def _begin(self) -> None:
        """BEGIN IMMEDIATE without waiting on the loop: inline when the file is free (the
        common case, ~100 us cheaper than a thread hand-off), in the executor with the
        busy timeout when another process is writing."""
        self._writer.execute("PRAGMA busy_timeout = 0")
        try:
            self._writer.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
        finally:
            self._writer.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await self._run(self._writer.execute, "BEGIN IMMEDIATE")

    async def atomic(self, work: Callable[[Repositories], Awaitable[T]]) -> T:
        async with self._write_lock:
            await self._begin()
            try:
                result = await work(SqlRepositories(self._transaction, self.clock, self.max_batch))
                await self._run(self._writer.execute, "COMMIT")
            except BaseException:
                if self._writer.in_transaction:
                    self._writer.execute("ROLLBACK")
                raise
            return result

    async def write_alone(self, statement: Callable[[sqlite3.Connection], Any]) -> tuple[Any, int]:
        """Run one write in its own transaction; returns (what it returned, rows it changed)."""

        def run() -> tuple[Any, int]:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                before = self._writer.total_changes
                result = statement(self._writer)
                changed = self._writer.total_changes - before
                self._writer.execute("COMMIT")
            except BaseException:
                if self._writer.in_transaction:
                    self._writer.execute("ROLLBACK")
                raise
            return result, changed

        async with self._write_lock:
            return await self._run(run)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._write_lock:
            self._writer.close()
            self._reader.close()
        self._executor.shutdown(wait=True)
