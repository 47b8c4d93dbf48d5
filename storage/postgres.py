"""PostgreSQL adapter: the scale-out backend.

Same behaviour as :mod:`storage.sqlite`, over an asyncpg connection pool.
Nothing connects until :meth:`PostgresStore.open`.

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
is one statement, so the head is held for as few round trips as possible.
asyncpg prepares and caches each statement per connection.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg

from engine.clock import Clock
from engine.errors import AlreadyRegistered, ClusterExists
from engine.ledger.model import (
    Account,
    CreateAccountResult,
    CreateTransferResult,
    PendingStatus,
    Transfer,
    TransferRecord,
)
from engine.ledger.rules import BatchOutcome
from engine.model import (
    Cluster,
    Language,
    Offer,
    OfferStatus,
    OutboxMessage,
    OutboxRow,
    OutboxStatus,
    ScreenFunnel,
    User,
    UssdSessionEnd,
)
from engine.ports import Transaction
from storage.ledger_ops import LedgerTransactionBase
from storage.migrations import pending_migrations
from storage.rows import (
    ACCOUNT_COLUMNS,
    CLUSTER_COLUMNS,
    OFFER_COLUMNS,
    OUTBOX_COLUMNS,
    PIN_STATE_COLUMNS,
    SETTLED_TRANSFER,
    TRANSFER_COLUMNS,
    USER_COLUMNS,
    account_from_row,
    account_values,
    cluster_from_row,
    cluster_values,
    offer_from_row,
    offer_values,
    outbox_from_row,
    outbox_params_json,
    pin_state_values,
    transfer_from_row,
    transfer_values,
    user_from_row,
)

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

# The first key of the two-key advisory locks that serialise counting one
# recipient's outbox rows ("SMS"); the second is a hash of the phone number.
_OUTBOX_COUNT_LOCK_CLASS = 0x534D53
# params is JSONB; read it back as text so storage.rows.outbox_from_row can json.loads it.
_OUTBOX_SELECT = OUTBOX_COLUMNS.replace(" params,", " params::text AS params,")
assert _OUTBOX_SELECT != OUTBOX_COLUMNS

_TRANSFER_TYPES = (
    "bigint",  # seq
    "text",  # id
    "text",  # debit_account_id
    "text",  # credit_account_id
    "bigint",  # amount
    "text",  # ledger
    "bigint",  # code
    "bigint",  # flags
    "text",  # pending_id
    "bigint",  # timeout_s
    "text",  # reference
    "bigint",  # timestamp
    "text",  # hash
    "text",  # req_debit_account
    "text",  # req_credit_account
    "bigint",  # req_amount
    "text",  # req_ledger
)
_ACCOUNT_TYPES = ("text", "text", "text", "text", "bigint", "bigint", "bigint", "bigint", "bigint", "bigint")
assert len(_TRANSFER_TYPES) == len(TRANSFER_COLUMNS.split(","))
assert len(_ACCOUNT_TYPES) == len(ACCOUNT_COLUMNS.split(","))


def _unnest(types: Sequence[str], first: int) -> str:
    """``unnest($first::t1[], $first+1::t2[], ...)``."""
    return "unnest(" + ", ".join(f"${first + i}::{t}[]" for i, t in enumerate(types)) + ")"


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Transpose rows into one list per column (``width`` empty lists for no rows)."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


_INSERT_ACCOUNTS = f"INSERT INTO accounts ({ACCOUNT_COLUMNS}) SELECT * FROM {_unnest(_ACCOUNT_TYPES, 1)}"

_n = len(_TRANSFER_TYPES)
# Everything one ledger batch writes once it holds the chain head, in one round
# trip. The parts touch disjoint rows; foreign keys are checked at the end of
# the statement, when the new transfers are visible to pending_transfers' check.
# With every array empty and a NULL head the statement writes nothing, so each
# primitive can also flush alone.
_WRITE_BATCH = (
    f"WITH new_transfers AS (INSERT INTO transfers ({TRANSFER_COLUMNS}) SELECT * FROM {_unnest(_TRANSFER_TYPES, 1)}), "
    "balances AS (UPDATE accounts AS a SET debits_pending = b.dp, debits_posted = b.dpo, "
    "credits_pending = b.cp, credits_posted = b.cpo "
    f"FROM unnest(${_n + 1}::text[], ${_n + 2}::bigint[], ${_n + 3}::bigint[], ${_n + 4}::bigint[], "
    f"${_n + 5}::bigint[]) AS b (id, dp, dpo, cp, cpo) WHERE a.id = b.id), "
    "new_pendings AS (INSERT INTO pending_transfers (id, status, expires_at) "
    f"SELECT * FROM unnest(${_n + 6}::text[], ${_n + 7}::text[], ${_n + 8}::bigint[])), "
    "pending_updates AS (UPDATE pending_transfers AS p SET status = u.status "
    f"FROM unnest(${_n + 9}::text[], ${_n + 10}::text[]) AS u (id, status) WHERE p.id = u.id) "
    f"UPDATE ledger_chain_head SET seq = ${_n + 11}::bigint, hash = ${_n + 12}::text "
    f"WHERE singleton = 1 AND ${_n + 11}::bigint IS NOT NULL"
)

# A UNION of the two indexed sides, each a backward index scan per account
# stopped at ``limit``, beats one OR scan on large tables.
_ACCOUNT_TRANSFERS = (
    f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE seq IN ("
    "SELECT d.seq FROM unnest($1::text[]) AS acc (id) CROSS JOIN LATERAL ("
    "SELECT seq FROM transfers WHERE debit_account_id = acc.id AND seq < $2 ORDER BY seq DESC LIMIT $3) AS d "
    "UNION "
    "SELECT c.seq FROM unnest($1::text[]) AS acc (id) CROSS JOIN LATERAL ("
    "SELECT seq FROM transfers WHERE credit_account_id = acc.id AND seq < $2 ORDER BY seq DESC LIMIT $3) AS c"
    ") ORDER BY seq DESC LIMIT $3"
)


async def _keep_session_state(conn: Any) -> None:
    """Pool ``reset`` hook: skip asyncpg's default reset query on release.

    The pool still rolls back a transaction left open. The store never changes
    session state (no SET, LISTEN, cursors or session-level advisory locks), so
    the default ``RESET ALL; UNLISTEN *; ...`` would only cost a round trip
    every time a connection goes back to the pool.
    """


@dataclass(slots=True)
class _BatchWrites:
    """What :meth:`LedgerTransactionBase._persist` asks for, sent as one statement."""

    transfers: list[tuple[Any, ...]] = field(default_factory=list)
    balances: list[tuple[Any, ...]] = field(default_factory=list)
    new_pendings: list[tuple[Any, ...]] = field(default_factory=list)
    pending_updates: list[tuple[Any, ...]] = field(default_factory=list)
    head: tuple[int, str] | None = None

    def args(self) -> list[Any]:
        seq, hash_ = self.head if self.head is not None else (None, None)
        return [
            *_columns(self.transfers, len(_TRANSFER_TYPES)),
            *_columns(self.balances, 5),
            *_columns(self.new_pendings, 3),
            *_columns(self.pending_updates, 2),
            seq,
            hash_,
        ]

    def empty(self) -> bool:
        return not (self.transfers or self.balances or self.new_pendings or self.pending_updates or self.head)


class PostgresQueries:
    """Read queries, shared by the store (pool) and transactions (one connection).

    ``_db`` is an ``asyncpg.Pool`` or ``asyncpg.Connection``: both have ``fetch``.
    """

    _db: Any

    async def _rows(self, sql: str, *args: Any) -> list[Any]:
        return list(await self._db.fetch(sql, *args))

    async def _by_ids(self, columns: str, table: str, ids: Sequence[str]) -> list[Any]:
        if not ids:
            return []
        return await self._rows(f"SELECT {columns} FROM {table} WHERE id = ANY($1::text[])", list(ids))

    async def lookup_accounts(self, ids: Sequence[str]) -> dict[str, Account]:
        return {r[0]: account_from_row(r) for r in await self._by_ids(ACCOUNT_COLUMNS, "accounts", ids)}

    async def lookup_transfers(self, ids: Sequence[str]) -> dict[str, TransferRecord]:
        return {r[1]: transfer_from_row(r) for r in await self._by_ids(TRANSFER_COLUMNS, "transfers", ids)}

    async def pending_statuses(self, ids: Sequence[str]) -> dict[str, PendingStatus]:
        return {r[0]: PendingStatus(r[1]) for r in await self._by_ids("id, status", "pending_transfers", ids)}

    async def account_transfers(
        self, account_ids: Sequence[str], *, limit: int, before_seq: int | None = None
    ) -> list[TransferRecord]:
        if not account_ids:
            return []
        before = before_seq if before_seq is not None else 2**62
        rows = await self._rows(_ACCOUNT_TRANSFERS, list(account_ids), before, limit)
        return [transfer_from_row(r) for r in rows]

    async def sum_transfers(
        self,
        *,
        codes: Sequence[int],
        debit_account_id: str | None = None,
        credit_account_id: str | None = None,
    ) -> int:
        sql = f"SELECT COALESCE(SUM(amount), 0) FROM transfers WHERE code = ANY($1::bigint[]) AND {SETTLED_TRANSFER}"
        params: list[Any] = [[int(c) for c in codes]]
        if debit_account_id is not None:
            params.append(debit_account_id)
            sql += f" AND debit_account_id = ${len(params)}"
        if credit_account_id is not None:
            params.append(credit_account_id)
            sql += f" AND credit_account_id = ${len(params)}"
        return int((await self._rows(sql, *params))[0][0])

    async def chain_entries(self, *, after_seq: int, limit: int) -> list[TransferRecord]:
        rows = await self._rows(
            f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE seq > $1 ORDER BY seq LIMIT $2", after_seq, limit
        )
        return [transfer_from_row(r) for r in rows]

    async def chain_head(self) -> tuple[int, str]:
        seq, hash_ = (await self._rows("SELECT seq, hash FROM ledger_chain_head WHERE singleton = 1"))[0]
        return int(seq), str(hash_)

    async def list_accounts(self, *, after_id: str = "", limit: int = 1000) -> list[Account]:
        rows = await self._rows(
            f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id > $1 ORDER BY id LIMIT $2", after_id, limit
        )
        return [account_from_row(r) for r in rows]

    async def user_by_phone(self, phone: str) -> User | None:
        rows = await self._rows(f"SELECT {USER_COLUMNS} FROM users WHERE phone = $1", phone)
        return user_from_row(rows[0]) if rows else None

    async def user_by_id(self, user_id: int) -> User | None:
        rows = await self._rows(f"SELECT {USER_COLUMNS} FROM users WHERE id = $1", user_id)
        return user_from_row(rows[0]) if rows else None

    async def list_users(self, *, limit: int, offset: int = 0) -> list[User]:
        rows = await self._rows(f"SELECT {USER_COLUMNS} FROM users ORDER BY id LIMIT $1 OFFSET $2", limit, offset)
        return [user_from_row(r) for r in rows]

    async def count_users(self) -> int:
        return int((await self._rows("SELECT COUNT(*) FROM users"))[0][0])

    async def count_users_by_language(self) -> dict[Language, int]:
        rows = await self._rows("SELECT language, COUNT(*) FROM users GROUP BY language")
        return {Language(r[0]): int(r[1]) for r in rows}

    async def cluster_by_id(self, cluster_id: str) -> Cluster | None:
        rows = await self._rows(f"SELECT {CLUSTER_COLUMNS} FROM clusters WHERE id = $1", cluster_id)
        return cluster_from_row(rows[0]) if rows else None

    async def list_clusters(self, *, region: str | None = None) -> list[Cluster]:
        if region is None:
            rows = await self._rows(f"SELECT {CLUSTER_COLUMNS} FROM clusters ORDER BY region, name")
        else:
            rows = await self._rows(f"SELECT {CLUSTER_COLUMNS} FROM clusters WHERE region = $1 ORDER BY name", region)
        return [cluster_from_row(r) for r in rows]

    async def cluster_regions(self) -> list[str]:
        return [r[0] for r in await self._rows("SELECT DISTINCT region FROM clusters ORDER BY region")]

    async def daily_count(self, subject: str, kind: str, day: int) -> int:
        rows = await self._rows(
            "SELECT count FROM daily_counters WHERE subject = $1 AND kind = $2 AND day = $3", subject, kind, day
        )
        return int(rows[0][0]) if rows else 0

    async def count_open_offers(self, seller_id: int, buyer_id: int, *, now_us: int) -> int:
        rows = await self._rows(
            "SELECT count(*) FROM offers "
            "WHERE seller_id = $1 AND buyer_id = $2 AND status = 'open' AND expires_at > $3",
            seller_id,
            buyer_id,
            now_us,
        )
        return int(rows[0][0])

    async def offer_by_id(self, offer_id: str) -> Offer | None:
        rows = await self._rows(f"SELECT {OFFER_COLUMNS} FROM offers WHERE id = $1", offer_id)
        return offer_from_row(rows[0]) if rows else None

    async def open_offers_for(self, buyer_id: int, *, now_us: int, limit: int = 20) -> list[Offer]:
        rows = await self._rows(
            f"SELECT {OFFER_COLUMNS} FROM offers WHERE buyer_id = $1 AND status = 'open' AND expires_at > $2 "
            "ORDER BY created_at, id LIMIT $3",
            buyer_id,
            now_us,
            limit,
        )
        return [offer_from_row(r) for r in rows]

    async def list_outbox(self, *, recipient: str | None = None, limit: int = 50) -> list[OutboxRow]:
        if recipient is None:
            rows = await self._rows(f"SELECT {_OUTBOX_SELECT} FROM outbox ORDER BY id DESC LIMIT $1", limit)
        else:
            rows = await self._rows(
                f"SELECT {_OUTBOX_SELECT} FROM outbox WHERE recipient = $1 ORDER BY id DESC LIMIT $2",
                recipient,
                limit,
            )
        return [outbox_from_row(r) for r in rows]


class PostgresTransaction(PostgresQueries, LedgerTransactionBase):
    """One READ COMMITTED transaction on one pooled connection."""

    def __init__(self, conn: Any, clock: Clock, max_batch: int) -> None:
        self._db = conn
        self.clock = clock
        self.max_batch = max_batch
        # Set while _persist runs: the write primitives collect into it and
        # _persist sends it as one statement.
        self._writes: _BatchWrites | None = None

    # --- ledger primitives ----------------------------------------------------

    async def _fetch_transfers(self, ids: Sequence[str]) -> dict[str, TransferRecord]:
        return await self.lookup_transfers(ids)

    async def _fetch_pending_statuses(self, ids: Sequence[str]) -> dict[str, PendingStatus]:
        return await self.pending_statuses(ids)

    async def _lock_accounts(self, sorted_ids: Sequence[str]) -> dict[str, Account]:
        if not sorted_ids:
            return {}
        rows = await self._rows(
            f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE",
            list(sorted_ids),
        )
        return {r[0]: account_from_row(r) for r in rows}

    async def _insert_accounts(self, accounts: Sequence[Account]) -> None:
        # In id order, so two transactions inserting overlapping new ids wait
        # on each other in the same order (and one then retries as "exists").
        rows = [account_values(a) for a in sorted(accounts, key=lambda a: a.id)]
        await self._db.execute(_INSERT_ACCOUNTS, *_columns(rows, len(_ACCOUNT_TYPES)))

    async def _due_pending_ids(self, now_us: int, limit: int) -> list[str]:
        # No lock here: the base class locks the accounts, then re-reads the status.
        rows = await self._rows(
            "SELECT id FROM pending_transfers WHERE status = 'pending' AND expires_at <= $1 "
            "ORDER BY expires_at LIMIT $2",
            now_us,
            limit,
        )
        return [r[0] for r in rows]

    async def _lock_chain_head(self) -> tuple[int, str]:
        seq, hash_ = (await self._rows("SELECT seq, hash FROM ledger_chain_head WHERE singleton = 1 FOR UPDATE"))[0]
        return int(seq), str(hash_)

    async def _persist(self, outcome: BatchOutcome) -> None:
        self._writes = writes = _BatchWrites()
        try:
            await super()._persist(outcome)
        finally:
            self._writes = None
        if not writes.empty():
            await self._flush(writes)

    async def _flush(self, writes: _BatchWrites) -> None:
        await self._db.execute(_WRITE_BATCH, *writes.args())

    async def _stage(self, fill: Callable[[_BatchWrites], None]) -> None:
        """Add to the batch being persisted, or (called on its own) write now."""
        if self._writes is not None:
            fill(self._writes)
            return
        writes = _BatchWrites()
        fill(writes)
        await self._flush(writes)

    async def _append_transfers(self, records: Sequence[TransferRecord], head: tuple[int, str]) -> None:
        def fill(w: _BatchWrites) -> None:
            w.transfers.extend(transfer_values(r) for r in records)
            w.head = head

        await self._stage(fill)

    async def _update_balances(self, accounts: Iterable[Account]) -> None:
        rows = [(a.id, a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted) for a in accounts]
        await self._stage(lambda w: w.balances.extend(rows))

    async def _insert_pendings(self, rows: Sequence[tuple[str, PendingStatus, int | None]]) -> None:
        values = [(i, str(s), e) for i, s, e in rows]
        await self._stage(lambda w: w.new_pendings.extend(values))

    async def _update_pending_statuses(self, rows: Sequence[tuple[str, PendingStatus]]) -> None:
        values = [(i, str(s)) for i, s in rows]
        await self._stage(lambda w: w.pending_updates.extend(values))

    # --- users, clusters, outbox ----------------------------------------------

    async def insert_user(self, *, phone: str, name: str, language: Language, pin_hash: str) -> User:
        # ON CONFLICT instead of catching the unique violation: an error would
        # abort the whole transaction, while SQLite's unit of work carries on.
        rows = await self._rows(
            "INSERT INTO users (phone, name, language, pin_hash, created_at) VALUES ($1, $2, $3, $4, $5) "
            f"ON CONFLICT (phone) DO NOTHING RETURNING {USER_COLUMNS}",
            phone,
            name,
            str(language),
            pin_hash,
            self.clock.now_us(),
        )
        if not rows:
            raise AlreadyRegistered("phone already registered", phone=phone)
        return user_from_row(rows[0])

    async def update_user(self, user: User) -> None:
        await self._db.execute(
            "UPDATE users SET name = $1, language = $2, pin_hash = $3 WHERE id = $4",
            user.name,
            str(user.language),
            user.pin_hash,
            user.id,
        )

    async def user_for_update(self, user_id: int) -> User | None:
        # The row lock serialises concurrent PIN attempts on one user until the transaction ends.
        rows = await self._rows(f"SELECT {USER_COLUMNS} FROM users WHERE id = $1 FOR UPDATE", user_id)
        return user_from_row(rows[0]) if rows else None

    async def save_pin_state(self, user: User) -> None:
        sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(PIN_STATE_COLUMNS, 1))
        await self._db.execute(
            f"UPDATE users SET {sets} WHERE id = ${len(PIN_STATE_COLUMNS) + 1}", *pin_state_values(user), user.id
        )

    async def bump_daily(self, subject: str, kind: str, day: int, limit: int) -> bool:
        rows = await self._rows(
            "INSERT INTO daily_counters (subject, kind, day, count) VALUES ($1, $2, $3, 1) "
            "ON CONFLICT (subject, kind, day) DO UPDATE SET count = daily_counters.count + 1 "
            "WHERE daily_counters.count < $4 RETURNING count",
            subject,
            kind,
            day,
            limit,
        )
        return bool(rows) and rows[0][0] <= limit

    async def forget_daily_before(self, day: int) -> int:
        status = await self._db.execute("DELETE FROM daily_counters WHERE day < $1", day)
        return int(status.split()[-1])

    async def insert_cluster(self, cluster: Cluster) -> Cluster:
        rows = await self._rows(
            f"INSERT INTO clusters ({CLUSTER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) "
            "ON CONFLICT (id) DO NOTHING RETURNING id",
            *cluster_values(cluster),
        )
        if not rows:
            raise ClusterExists("cluster exists", cluster_id=cluster.id)
        return cluster

    async def insert_offer(self, offer: Offer) -> bool:
        rows = await self._rows(
            f"INSERT INTO offers ({OFFER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
            "ON CONFLICT (id) DO NOTHING RETURNING id",
            *offer_values(offer),
        )
        return bool(rows)

    async def close_offer(self, offer_id: str, status: OfferStatus) -> bool:
        rows = await self._rows(
            "UPDATE offers SET status = $1 WHERE id = $2 AND status = 'open' RETURNING id", str(status), offer_id
        )
        return bool(rows)

    async def add_outbox(self, messages: Sequence[OutboxMessage], *, folded: bool = False, due_at: int = 0) -> int:
        if not messages:
            return 0
        now = self.clock.now_us()
        rows = [
            (m.dedupe_key, m.recipient, str(m.language), m.template, outbox_params_json(m), m.created_at or now)
            for m in messages
        ]
        status = await self._db.execute(
            "INSERT INTO outbox (dedupe_key, recipient, language, template, params, status, next_attempt_at, "
            "created_at, updated_at) "
            "SELECT k, r, l, t, p::jsonb, $8::text, $9::bigint, c, $7::bigint "
            "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[]) "
            "WITH ORDINALITY AS m (k, r, l, t, p, c, n) "
            "ORDER BY n ON CONFLICT (dedupe_key) DO NOTHING",
            *_columns(rows, 6),
            now,
            str(OutboxStatus.FOLDED if folded else OutboxStatus.PENDING),
            due_at,
        )
        # The command tag is "INSERT 0 <rows>".
        return int(status.rsplit(" ", 1)[1])

    async def existing_outbox_keys(self, dedupe_keys: Sequence[str]) -> set[str]:
        if not dedupe_keys:
            return set()
        rows = await self._rows("SELECT dedupe_key FROM outbox WHERE dedupe_key = ANY($1::text[])", list(dedupe_keys))
        return {r[0] for r in rows}

    async def count_outbox_since(
        self, recipients: Sequence[str], since_us: int, *, excluding_templates: Sequence[str]
    ) -> dict[str, int]:
        if not recipients:
            return {}
        # READ COMMITTED lets two units of work count the same recipient at
        # once and both add "the last" message. A transaction-scoped advisory
        # lock per recipient (taken in sorted order, so two never deadlock)
        # makes the second wait; the count is a separate statement, so its
        # snapshot is taken after the wait and sees what the first committed.
        await self._db.execute(
            "SELECT pg_advisory_xact_lock($1::int, hashtext(r)) "
            "FROM unnest($2::text[]) WITH ORDINALITY AS u (r, n) ORDER BY n",
            _OUTBOX_COUNT_LOCK_CLASS,
            sorted(recipients),
        )
        rows = await self._rows(
            "SELECT recipient, COUNT(*) FROM outbox WHERE recipient = ANY($1::text[]) "
            "AND created_at >= $2 AND status <> 'folded' AND template <> ALL($3::text[]) "
            "GROUP BY recipient",
            list(recipients),
            since_us,
            list(excluding_templates),
        )
        return {r[0]: int(r[1]) for r in rows}


class PostgresStore(PostgresQueries):
    backend = "postgres"

    def __init__(self, pool: Any, *, clock: Clock, max_batch: int) -> None:
        self._db = pool
        self.clock = clock
        self.max_batch = max_batch
        self._closed = False

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
    ) -> PostgresStore:
        pool = await asyncpg.create_pool(url, min_size=pool_min_size, max_size=pool_max_size, reset=_keep_session_state)
        store = cls(pool, clock=clock, max_batch=max_batch)
        if migrate:
            try:
                await store.migrate()
            except BaseException:
                await store.close()
                raise
        return store

    async def migrate(self) -> list[str]:
        """Apply pending migrations, each with its ``schema_migrations`` row in one transaction.

        Every step holds a transaction-scoped advisory lock, so concurrent
        migrators apply each migration once. Returns the names applied.
        """
        done: list[str] = []
        async with self._db.acquire() as conn:
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

    async def atomic(self, work: Callable[[Transaction], Awaitable[T]]) -> T:
        attempt = 1
        while True:
            try:
                async with self._db.acquire() as conn, conn.transaction():
                    return await work(PostgresTransaction(conn, self.clock, self.max_batch))
            except (asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.SerializationError):
                if attempt >= MAX_ATTEMPTS:
                    raise
            except asyncpg.exceptions.UniqueViolationError as exc:
                if attempt >= MAX_ATTEMPTS or exc.constraint_name not in _RETRY_UNIQUE_CONSTRAINTS:
                    raise
            # The connection is back in the pool: back off (jittered) and run it again.
            await asyncio.sleep(random.uniform(0, min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2**attempt)))
            attempt += 1

    async def create_accounts(self, accounts: Sequence[Account]) -> list[CreateAccountResult]:
        return await self.atomic(lambda tx: tx.create_accounts(accounts))

    async def create_transfers(self, transfers: Sequence[Transfer]) -> list[CreateTransferResult]:
        return await self.atomic(lambda tx: tx.create_transfers(transfers))

    async def expire_pending_transfers(self, *, limit: int = 1000) -> int:
        return await self.atomic(lambda tx: tx.expire_pending_transfers(limit=limit))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._db.close()

    async def record_ussd_end(self, event: UssdSessionEnd) -> bool:
        return await _record_ussd_end(self._db, self.clock, event)

    async def ussd_funnel(self) -> list[ScreenFunnel]:
        return await _ussd_funnel(self._db)

    # --- SMS outbox delivery (engine.ports.OutboxQueue) ----------------------
    # Each write is one autocommit statement on a pooled connection.

    async def claim_outbox(self, *, limit: int, lease_s: float) -> list[OutboxRow]:
        now = self.clock.now_us()
        rows = await self._rows(_CLAIM_OUTBOX, now, now + int(lease_s * 1_000_000), limit)
        return sorted((outbox_from_row(r) for r in rows), key=lambda row: row.id)

    async def _mark_outbox(self, row_id: int, attempt: int | None, assignments: str, *values: Any) -> bool:
        n = len(values)
        status = await self._db.execute(
            f"UPDATE outbox SET {assignments}, updated_at = ${n + 1} "
            f"WHERE id = ${n + 2} AND status IN ('pending', 'failed') "
            f"AND (${n + 3}::bigint IS NULL OR attempts = ${n + 3}::bigint)",
            *values,
            self.clock.now_us(),
            row_id,
            attempt,
        )
        return _changed(status)

    async def mark_outbox_sent(self, row_id: int, provider_ref: str, *, attempt: int | None = None) -> bool:
        return await self._mark_outbox(
            row_id, attempt, "status = 'sent', provider_ref = $1, last_error = ''", provider_ref
        )

    async def mark_outbox_retry(
        self, row_id: int, error: str, next_attempt_at: int, *, attempt: int | None = None
    ) -> bool:
        return await self._mark_outbox(
            row_id, attempt, "status = 'failed', last_error = $1, next_attempt_at = $2", error, next_attempt_at
        )

    async def mark_outbox_dead(self, row_id: int, error: str, *, attempt: int | None = None) -> bool:
        return await self._mark_outbox(row_id, attempt, "status = 'dead', last_error = $1", error)

    async def record_delivery_report(self, provider_ref: str, *, delivered: bool, reason: str = "") -> bool:
        status = await self._db.execute(
            "UPDATE outbox SET status = $1, last_error = $2, updated_at = $3 "
            "WHERE provider_ref = $4 AND provider_ref <> '' AND status = 'sent'",
            str(OutboxStatus.DELIVERED if delivered else OutboxStatus.DEAD),
            reason,
            self.clock.now_us(),
            provider_ref,
        )
        return _changed(status)

    async def scrub_outbox_params(self, row_id: int, params: dict[str, str | int]) -> bool:
        status = await self._db.execute(
            "UPDATE outbox SET params = $1::jsonb, updated_at = $2 "
            "WHERE id = $3 AND status IN ('sent', 'delivered', 'dead')",
            json.dumps(params, sort_keys=True),
            self.clock.now_us(),
            row_id,
        )
        return _changed(status)

    async def outbox_counts(self) -> dict[OutboxStatus, int]:
        counts = dict.fromkeys(OutboxStatus, 0)
        for status, count in await self._rows("SELECT status, COUNT(*) FROM outbox GROUP BY status"):
            counts[OutboxStatus(status)] = int(count)
        return counts


# A lease on the oldest due rows in one statement. SKIP LOCKED passes over rows
# another claimer is leasing right now; a row whose lease committed after this
# statement's snapshot is re-checked once locked (READ COMMITTED) and dropped,
# since its next_attempt_at is no longer due. The subquery in FROM runs once,
# so LIMIT bounds the rows updated.
_CLAIM_OUTBOX = (
    "UPDATE outbox AS o SET next_attempt_at = $2, attempts = o.attempts + 1, updated_at = $1 "
    "FROM (SELECT id FROM outbox WHERE status IN ('pending', 'failed') AND next_attempt_at <= $1 "
    "ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) AS due "
    "WHERE o.id = due.id RETURNING "
    + ", ".join(
        f"o.{c}::text AS {c}" if c == "params" else f"o.{c}" for c in OUTBOX_COLUMNS.replace(" ", "").split(",")
    )
)


def _changed(command_status: str) -> bool:
    """``"UPDATE 1"`` -> True."""
    return int(command_status.rsplit(" ", 1)[1]) > 0


# --- end SMS outbox delivery -------------------------------------------------


async def _record_ussd_end(pool: Any, clock: Clock, event: UssdSessionEnd) -> bool:
    status = await pool.execute(
        "INSERT INTO ussd_events (session_id, status, last_screen, hops, duration_ms, error, received_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (session_id) DO NOTHING",
        event.session_id,
        event.status,
        event.last_screen,
        event.hops,
        event.duration_ms,
        event.error,
        clock.now_us(),
    )
    return bool(status == "INSERT 0 1")


async def _ussd_funnel(pool: Any) -> list[ScreenFunnel]:
    rows = await pool.fetch(
        "SELECT last_screen, COUNT(*), COUNT(*) FILTER (WHERE status = 'Success'), "
        "COUNT(*) FILTER (WHERE status <> 'Success') FROM ussd_events "
        "GROUP BY last_screen ORDER BY 4 DESC, 2 DESC, 1"
    )
    return [ScreenFunnel(r[0], int(r[1]), int(r[2]), int(r[3])) for r in rows]
