"""PostgreSQL adapter: the scale-out backend. Pool, transactions, retries, migrations and the ledger batch writer.

Same behaviour as :mod:`storage.sqlite`, over an asyncpg connection pool;
the SQL lives in :mod:`storage.repositories`. Nothing connects until
:meth:`PostgresDatabase.open`.

Concurrency: every unit of work runs in one READ COMMITTED transaction on a
pooled connection. The shared write path (:mod:`storage.ledger_ops`) locks
the accounts a batch touches with ``SELECT ... ORDER BY id FOR UPDATE`` (a
fixed order, so writers queue rather than deadlock), re-reads idempotency ids
and pending states after the locks (a new statement, so it sees whatever
committed while it waited) and locks the chain head last. The database's own
CHECK constraints refuse an overdraft even if that ever went wrong. Transient
conflicts (deadlock, serialization failure, two writers inserting the same new
transfer or account id) roll back and re-run the whole unit of work.

Speed: ids go to the server as one array parameter (``= ANY($1)``), multi-row
writes as column arrays through ``unnest``, and everything a ledger batch
writes after taking the chain head (transfers, head, balances, pending states)
is one statement (:func:`write_ledger_batch`), so the head is held for as few
round trips as possible. asyncpg prepares and caches each statement per
connection; every statement text is a constant, so each is prepared once.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg

from engine.kernel.clock import Clock
from engine.uow import Repositories
from storage.dialect import POSTGRES, Batch, Executor, Row, Sql, changed_rows, columns_of, postgres_only, unnest
from storage.migrations import pending_migrations
from storage.repositories import SqlDatabaseRepositories, SqlRepositories
from storage.repositories.ledger import BALANCE_TYPES, PENDING_UPDATE_TYPES, LedgerWrites
from storage.tables import PENDING_TRANSFERS, TRANSFERS

T = TypeVar("T")

DEFAULT_POOL_MAX_SIZE = 20
# A unit of work that hits a transient conflict is re-run up to this many times in all.
MAX_ATTEMPTS = 8
_BACKOFF_BASE_S = 0.002
_BACKOFF_CAP_S = 0.1
# Any fixed 64-bit key; every migrator of this schema takes the same one.
_MIGRATION_LOCK_KEY = 0x656E65726C656374  # "enerlect"
# A concurrent writer inserted the same new id first: re-running sees it and
# answers "exists" like the sequential case would.
_RETRY_UNIQUE_CONSTRAINTS = frozenset({"accounts_pkey", "transfers_pkey", "transfers_id_key", "pending_transfers_pkey"})


class PostgresExecutor:
    """storage.dialect.Executor on an asyncpg connection, or on the pool (each statement autocommits)."""

    dialect = POSTGRES

    def __init__(self, db: Any) -> None:  # asyncpg.Pool or asyncpg.Connection: both fetch and execute
        self._db = db

    async def fetch(self, sql: Sql, *args: Any) -> list[Row]:
        return list(await self._db.fetch(sql.postgres, *args))

    async def fetch_one(self, sql: Sql, *args: Any) -> Row | None:
        row: Row | None = await self._db.fetchrow(sql.postgres, *args)
        return row

    async def execute(self, sql: Sql, *args: Any) -> int:
        return changed_rows(await self._db.execute(sql.postgres, *args))

    async def execute_batch(self, batch: Batch, rows: Sequence[Sequence[Any]], *args: Any) -> int:
        if not rows:
            return 0
        return changed_rows(await self._db.execute(batch.postgres, *columns_of(rows, batch.width), *args))


_T = len(TRANSFERS.array_types)
_B = _T + len(BALANCE_TYPES)
_P = _B + len(PENDING_TRANSFERS.array_types)
_U = _P + len(PENDING_UPDATE_TYPES)
# Everything one ledger batch writes once it holds the chain head, in one round
# trip. The parts touch disjoint rows; foreign keys are checked at the end of
# the statement, when the new transfers are visible to pending_transfers' check.
# With every array empty and a NULL head the statement writes nothing, so each
# part can also be flushed alone.
_WRITE_LEDGER_BATCH = postgres_only(
    f"WITH new_transfers AS (INSERT INTO transfers ({', '.join(TRANSFERS.names)}) "
    f"SELECT * FROM {unnest(TRANSFERS.array_types)}), "
    "balances AS (UPDATE accounts AS a SET debits_pending = b.dp, debits_posted = b.dpo, "
    "credits_pending = b.cp, credits_posted = b.cpo "
    f"FROM {unnest(BALANCE_TYPES, _T + 1)} AS b (id, dp, dpo, cp, cpo) WHERE a.id = b.id), "
    "new_pendings AS (INSERT INTO pending_transfers (id, status, expires_at) "
    f"SELECT * FROM {unnest(PENDING_TRANSFERS.array_types, _B + 1)}), "
    "pending_updates AS (UPDATE pending_transfers AS p SET status = u.status "
    f"FROM {unnest(PENDING_UPDATE_TYPES, _P + 1)} AS u (id, status) WHERE p.id = u.id) "
    f"UPDATE ledger_chain_head SET seq = ${_U + 1}::bigint, hash = ${_U + 2}::text "
    f"WHERE singleton = 1 AND ${_U + 1}::bigint IS NOT NULL"
)


async def write_ledger_batch(db: Executor, writes: LedgerWrites) -> None:
    """storage.repositories.ledger.LedgerFlush: the whole batch as one statement."""
    seq, hash_ = writes.head if writes.head is not None else (None, None)
    await db.execute(
        _WRITE_LEDGER_BATCH,
        *columns_of(writes.transfers, _T),
        *columns_of(writes.balances, len(BALANCE_TYPES)),
        *columns_of(writes.new_pendings, len(PENDING_TRANSFERS.array_types)),
        *columns_of(writes.pending_updates, len(PENDING_UPDATE_TYPES)),
        seq,
        hash_,
    )


async def _keep_session_state(conn: Any) -> None:
    """Pool ``reset`` hook: skip asyncpg's default reset query on release.

    The pool still rolls back a transaction left open. The store never changes
    session state (no SET, LISTEN, cursors or session-level advisory locks), so
    the default ``RESET ALL; UNLISTEN *; ...`` would only cost a round trip
    every time a connection goes back to the pool.
    """


class PostgresDatabase(SqlDatabaseRepositories):
    """engine.uow.Database on a PostgreSQL connection pool."""

    backend = "postgres"

    def __init__(self, pool: Any, *, clock: Clock, max_batch: int) -> None:
        self._pool = pool
        self.clock = clock
        self.max_batch = max_batch
        self._closed = False
        # The pool runs each statement outside a transaction: committed reads, and writes that commit alone.
        pooled = PostgresExecutor(pool)
        super().__init__(reads=pooled, writes=pooled, atomic=self.atomic, clock=clock)

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        clock: Clock,
        max_batch: int,
        migrate: bool = False,
        pool_min_size: int = 1,
        pool_max_size: int = DEFAULT_POOL_MAX_SIZE,
    ) -> PostgresDatabase:
        pool = await asyncpg.create_pool(url, min_size=pool_min_size, max_size=pool_max_size, reset=_keep_session_state)
        database = cls(pool, clock=clock, max_batch=max_batch)
        if migrate:
            try:
                await database.migrate()
            except BaseException:
                await database.close()
                raise
        return database

    async def migrate(self) -> list[str]:
        """Apply pending migrations, each with its ``schema_migrations`` row in one transaction.

        Every step holds a transaction-scoped advisory lock, so concurrent
        migrators apply each migration once. Returns the names applied.
        """
        done: list[str] = []
        async with self._pool.acquire() as conn:
            while True:
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK_KEY)
                    await conn.execute(
                        "CREATE TABLE IF NOT EXISTS schema_migrations ("
                        "version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, "
                        "applied_at BIGINT NOT NULL)"
                    )
                    applied = {r[0]: r[1] for r in await conn.fetch("SELECT version, checksum FROM schema_migrations")}
                    todo = pending_migrations("postgres", applied)
                    if not todo:
                        return done
                    m = todo[0]
                    await conn.execute(m.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
                        m.version,
                        m.name,
                        m.checksum,
                        self.clock.now_us(),
                    )
                done.append(f"{m.version:04d}_{m.name}")

    async def atomic(self, work: Callable[[Repositories], Awaitable[T]]) -> T:
        attempt = 1
        while True:
            try:
                async with self._pool.acquire() as conn, conn.transaction():
                    repositories = SqlRepositories(
                        PostgresExecutor(conn), self.clock, self.max_batch, flush=write_ledger_batch
                    )
                    return await work(repositories)
            except (asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.SerializationError):
                if attempt >= MAX_ATTEMPTS:
                    raise
            except asyncpg.exceptions.UniqueViolationError as exc:
                if attempt >= MAX_ATTEMPTS or exc.constraint_name not in _RETRY_UNIQUE_CONSTRAINTS:
                    raise
            # The connection is back in the pool: back off (jittered) and run it again.
            await asyncio.sleep(random.uniform(0, min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2**attempt)))
            attempt += 1

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._pool.close()
