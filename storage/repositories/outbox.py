"""The outbox, written once for SQLite and PostgreSQL (engine.notifications.ports).

:class:`OutboxRepository` queues messages inside a unit of work;
:class:`OutboxQueueRepository` is the delivery side, each call one short transaction
(``writes`` commits every statement on its own: a pooled autocommit
connection on PostgreSQL, a ``BEGIN IMMEDIATE`` transaction in SQLite's
commit thread).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from engine.kernel.clock import Clock
from engine.notifications.model import OutboxMessage, OutboxRow, OutboxStatus
from storage.dialect import Batch, Executor, Sql, postgres_only, sql, to_sqlite, unnest
from storage.tables import OUTBOX, outbox_params_json

_LIST = sql(f"SELECT {OUTBOX.select} FROM outbox ORDER BY id DESC LIMIT $1")
_LIST_FOR = sql(f"SELECT {OUTBOX.select} FROM outbox WHERE recipient = $1 ORDER BY id DESC LIMIT $2")

_QUEUED = ("dedupe_key", "recipient", "language", "template", "params", "created_at")
# Per message: the _QUEUED columns; shared: $7 now, $8 status, $9 due_at. PostgreSQL keeps
# the messages' order (WITH ORDINALITY), so ids still follow it.
_ADD = Batch(
    postgres=(
        "INSERT INTO outbox (dedupe_key, recipient, language, template, params, status, next_attempt_at, "
        "created_at, updated_at) "
        "SELECT k, r, l, t, p::jsonb, $8::text, $9::bigint, c, $7::bigint "
        f"FROM {unnest([OUTBOX.column(c).type.array for c in _QUEUED])} "
        "WITH ORDINALITY AS m (k, r, l, t, p, c, n) "
        "ORDER BY n ON CONFLICT (dedupe_key) DO NOTHING"
    ),
    sqlite=to_sqlite(
        "INSERT INTO outbox (dedupe_key, recipient, language, template, params, status, next_attempt_at, "
        "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $8, $9, $6, $7) ON CONFLICT (dedupe_key) DO NOTHING"
    ),
    width=len(_QUEUED),
)
_EXISTING_KEYS = sql("SELECT dedupe_key FROM outbox WHERE dedupe_key = ANY($1::text[])")
# READ COMMITTED lets two units of work count the same recipient at once and
# both add "the last" message. A transaction-scoped advisory lock per recipient
# (taken in sorted order, so two never deadlock) makes the second wait; the
# count is a separate statement, so its snapshot is taken after the wait and
# sees what the first committed. ("SMS" is the first key of the two-key lock.)
_LOCK_RECIPIENTS = postgres_only(
    f"SELECT pg_advisory_xact_lock({0x534D53}, hashtext(r)) "
    "FROM unnest($1::text[]) WITH ORDINALITY AS u (r, n) ORDER BY n"
)
_COUNT_SINCE = sql(
    "SELECT recipient, COUNT(*) FROM outbox WHERE recipient = ANY($1::text[]) "
    "AND created_at >= $2 AND status <> 'folded' AND template <> ALL($3::text[]) "
    "GROUP BY recipient"
)

# A lease on the oldest due rows in one statement. On PostgreSQL SKIP LOCKED
# passes over rows another claimer is leasing right now; a row whose lease
# committed after this statement's snapshot is re-checked once locked (READ
# COMMITTED) and dropped, since its next_attempt_at is no longer due. The
# subquery in FROM runs once, so LIMIT bounds the rows updated. On SQLite the
# database write lock makes the claim exclusive.
_CLAIM = sql(
    "UPDATE outbox AS o SET next_attempt_at = $2, attempts = o.attempts + 1, updated_at = $1 "
    "FROM (SELECT id AS due_id FROM outbox WHERE status IN ('pending', 'failed') AND next_attempt_at <= $1 "
    "ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) AS due "
    f"WHERE o.id = due.due_id RETURNING {OUTBOX.select}"
)


def _mark(assignments: str, n: int) -> Sql:
    """Move a row that is still pending or failed, fenced by the claim's attempt when one is given."""
    return sql(
        f"UPDATE outbox SET {assignments}, updated_at = ${n + 1} "
        f"WHERE id = ${n + 2} AND status IN ('pending', 'failed') "
        f"AND (${n + 3}::bigint IS NULL OR attempts = ${n + 3}::bigint)"
    )


_MARK_SENT = _mark("status = 'sent', provider_ref = $1, last_error = ''", 1)
_MARK_RETRY = _mark("status = 'failed', last_error = $1, next_attempt_at = $2", 2)
_MARK_DEAD = _mark("status = 'dead', last_error = $1", 1)
_DELIVERY_REPORT = sql(
    "UPDATE outbox SET status = $1, last_error = $2, updated_at = $3 "
    "WHERE provider_ref = $4 AND provider_ref <> '' AND status = 'sent'"
)
_SCRUB = sql(
    "UPDATE outbox SET params = $1::jsonb, updated_at = $2 WHERE id = $3 AND status IN ('sent', 'delivered', 'dead')"
)
_COUNTS = sql("SELECT status, COUNT(*) FROM outbox GROUP BY status")


class OutboxReads:
    """engine.notifications.ports.OutboxReader over one executor."""

    def __init__(self, db: Executor) -> None:
        self._db = db

    async def list_outbox(self, *, recipient: str | None = None, limit: int = 50) -> list[OutboxRow]:
        rows = await (
            self._db.fetch(_LIST, limit) if recipient is None else self._db.fetch(_LIST_FOR, recipient, limit)
        )
        return [OUTBOX.record(r) for r in rows]


class OutboxRepository(OutboxReads):
    """engine.notifications.ports.OutboxWriter inside one open transaction."""

    def __init__(self, db: Executor, clock: Clock) -> None:
        super().__init__(db)
        self._clock = clock

    async def add_outbox(self, messages: Sequence[OutboxMessage], *, folded: bool = False, due_at: int = 0) -> int:
        now = self._clock.now_us()
        rows = [
            (m.dedupe_key, m.recipient, str(m.language), m.template, outbox_params_json(m.params), m.created_at or now)
            for m in messages
        ]
        status = str(OutboxStatus.FOLDED if folded else OutboxStatus.PENDING)
        return await self._db.execute_batch(_ADD, rows, now, status, due_at)

    async def existing_outbox_keys(self, dedupe_keys: Sequence[str]) -> set[str]:
        if not dedupe_keys:
            return set()
        return {r[0] for r in await self._db.fetch(_EXISTING_KEYS, list(dedupe_keys))}

    async def count_outbox_since(
        self, recipients: Sequence[str], since_us: int, *, excluding_templates: Sequence[str]
    ) -> dict[str, int]:
        if not recipients:
            return {}
        # SQLite's BEGIN IMMEDIATE already holds the database write lock until
        # commit, so no other writer can add to a count between it and our inserts.
        if not self._db.dialect.serialised_writes:
            await self._db.execute(_LOCK_RECIPIENTS, sorted(recipients))
        rows = await self._db.fetch(_COUNT_SINCE, list(recipients), since_us, list(excluding_templates))
        return {r[0]: int(r[1]) for r in rows}


class OutboxQueueRepository:
    """engine.notifications.ports.OutboxQueue: ``writes`` commits each statement, ``reads`` reads committed rows."""

    def __init__(self, *, writes: Executor, reads: Executor, clock: Clock) -> None:
        self._writes = writes
        self._reads = reads
        self._clock = clock

    async def claim_outbox(self, *, limit: int, lease_s: float) -> list[OutboxRow]:
        now = self._clock.now_us()
        rows = await self._writes.fetch(_CLAIM, now, now + int(lease_s * 1_000_000), limit)
        return sorted((OUTBOX.record(r) for r in rows), key=lambda row: row.id)

    async def mark_outbox_sent(self, row_id: int, provider_ref: str, *, attempt: int | None = None) -> bool:
        return await self._writes.execute(_MARK_SENT, provider_ref, self._clock.now_us(), row_id, attempt) > 0

    async def mark_outbox_retry(
        self, row_id: int, error: str, next_attempt_at: int, *, attempt: int | None = None
    ) -> bool:
        now = self._clock.now_us()
        return await self._writes.execute(_MARK_RETRY, error, next_attempt_at, now, row_id, attempt) > 0

    async def mark_outbox_dead(self, row_id: int, error: str, *, attempt: int | None = None) -> bool:
        return await self._writes.execute(_MARK_DEAD, error, self._clock.now_us(), row_id, attempt) > 0

    async def record_delivery_report(self, provider_ref: str, *, delivered: bool, reason: str = "") -> bool:
        status = str(OutboxStatus.DELIVERED if delivered else OutboxStatus.DEAD)
        return await self._writes.execute(_DELIVERY_REPORT, status, reason, self._clock.now_us(), provider_ref) > 0

    async def scrub_outbox_params(self, row_id: int, params: dict[str, str | int]) -> bool:
        text = json.dumps(params, sort_keys=True)
        return await self._writes.execute(_SCRUB, text, self._clock.now_us(), row_id) > 0

    async def outbox_counts(self) -> dict[OutboxStatus, int]:
        counts = dict.fromkeys(OutboxStatus, 0)
        for status, count in await self._reads.fetch(_COUNTS):
            counts[OutboxStatus(status)] = int(count)
        return counts
