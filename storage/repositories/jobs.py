"""The scheduler's repositories, written once for SQLite and PostgreSQL (engine.scheduler.ports).

A job is one row per ``(kind, key)``. Scheduling is an upsert inside the
caller's unit of work; claiming and settling are the worker's, each one
statement committing alone.

How a settle knows it still holds the job: the claim bumps ``claims`` and
every write to the row moves ``updated_at`` forward (to now, or one
microsecond past the last write when the clock has not moved on, so even a
test's stopped clock gives each write a new value). ``finish_job`` and
``fail_job`` change the row only if both are what the claim returned:
another worker's claim after the lease ran out changes ``claims``; a
reschedule (``schedule_job`` moving the due time or the payload while the
handler ran) or a cancel changes ``updated_at``. Either way the newer write
wins and the settle answers False; a settle that lost only to a reschedule
still ends its own lease, so the job runs at its new due time rather than
when the lease would have ended.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.kernel.clock import Clock
from engine.scheduler.model import Job, JobCounts, JobState
from storage.coop_tables import JOBS, stored_json
from storage.dialect import Executor, sql, sql_pair, to_sqlite


def _touch(now: str, column: str = "updated_at") -> str:
    """``updated_at``'s next value: ``now``, or one past its last when the clock has not moved on."""
    return f"updated_at = CASE WHEN {now} > {column} THEN {now} ELSE {column} + 1 END"


# $1 kind, $2 key, $3 due, $4 payload, $5 now. A done or dead job starts over; a
# waiting one keeps its attempts and error; a claimed one keeps its lease (its
# worker's settle then finds updated_at moved, and loses).
_SCHEDULE = sql(
    "INSERT INTO jobs (kind, key, due_at, payload, state, attempts, lease_until, last_error, claims, updated_at) "
    "VALUES ($1, $2, $3, $4::jsonb, 'due', 0, 0, '', 0, $5) ON CONFLICT (kind, key) DO UPDATE SET "
    "due_at = excluded.due_at, payload = excluded.payload, state = 'due', "
    "attempts = CASE WHEN jobs.state = 'due' THEN jobs.attempts ELSE 0 END, "
    "last_error = CASE WHEN jobs.state = 'due' THEN jobs.last_error ELSE '' END, "
    "updated_at = CASE WHEN excluded.updated_at > jobs.updated_at THEN excluded.updated_at "
    "ELSE jobs.updated_at + 1 END"
)
_CANCEL = sql(f"UPDATE jobs SET state = 'done', {_touch('$3')} WHERE kind = $1 AND key = $2 AND state = 'due'")

# A lease on the earliest due jobs in one statement, as the outbox's and payments'
# claims: on PostgreSQL SKIP LOCKED passes over rows another claimer holds, and a
# row whose claim committed after this statement's snapshot is re-checked once
# locked (READ COMMITTED) and dropped, its lease no longer over. The subquery's
# WHERE starts with jobs_due's predicate, so both databases read that index. On
# SQLite the database write lock makes it exclusive.
_CLAIM_TEXT = (
    f"UPDATE jobs AS j SET lease_until = $2, claims = j.claims + 1, {_touch('$1', 'j.updated_at')} "
    "FROM (SELECT id AS due_id FROM jobs WHERE state = 'due' AND due_at <= $1 AND lease_until <= $1 "
    "AND kind = ANY($4::text[]) ORDER BY due_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) AS due "
    f"WHERE j.id = due.due_id RETURNING {JOBS.select}"
)
# SQLite's planner, without statistics, would rather look the kinds up in the (kind, key) key
# and sort every job of those kinds, done ones included: it is told to walk jobs_due instead.
_CLAIM = sql_pair(
    postgres=_CLAIM_TEXT,
    sqlite=to_sqlite(_CLAIM_TEXT).replace("FROM jobs WHERE", "FROM jobs INDEXED BY jobs_due WHERE"),
)
# $1 id, $2 claims, $3 updated_at as the claim returned them; $4 next due (NULL: done), $5 now.
_FINISH = sql(
    "UPDATE jobs SET state = CASE WHEN $4::bigint IS NULL THEN 'done' ELSE 'due' END, "
    "due_at = COALESCE($4::bigint, due_at), attempts = 0, lease_until = 0, last_error = '', "
    f"{_touch('$5')} WHERE id = $1 AND claims = $2 AND updated_at = $3 AND state = 'due'"
)
# $4 error, $5 retry at (NULL: dead), $6 now.
_FAIL = sql(
    "UPDATE jobs SET state = CASE WHEN $5::bigint IS NULL THEN 'dead' ELSE 'due' END, "
    "due_at = COALESCE($5::bigint, due_at), attempts = attempts + 1, lease_until = 0, last_error = $4, "
    f"{_touch('$6')} WHERE id = $1 AND claims = $2 AND updated_at = $3 AND state = 'due'"
)
# A settle that lost: end its own lease if nobody claimed the job since ($3 the lease it was given).
_RELEASE = sql(f"UPDATE jobs SET lease_until = 0, {_touch('$4')} WHERE id = $1 AND claims = $2 AND lease_until = $3")
_RETRY_DEAD = sql(
    f"UPDATE jobs SET state = 'due', due_at = $3, attempts = 0, lease_until = 0, {_touch('$3')} "
    "WHERE kind = $1 AND key = $2 AND state = 'dead'"
)

_BY_KEY = sql(f"SELECT {JOBS.select} FROM jobs WHERE kind = $1 AND key = $2")
_ALL = sql(f"SELECT {JOBS.select} FROM jobs ORDER BY due_at, id LIMIT $1")
# The state as a literal, so a listing of due or dead jobs reads its partial index.
_IN_STATE = {
    str(state): sql(f"SELECT {JOBS.select} FROM jobs WHERE state = '{state}' ORDER BY due_at, id LIMIT $1")
    for state in JobState
}
# Overdue: due before now and not running (never claimed, or its lease over).
_OVERDUE = "state = 'due' AND due_at < $1 AND lease_until <= $1"
_COUNTS = sql(
    "SELECT COUNT(*) FILTER (WHERE state = 'due'), "
    f"COUNT(*) FILTER (WHERE {_OVERDUE}), "
    "COUNT(*) FILTER (WHERE state = 'dead'), "
    "COUNT(*) FILTER (WHERE state = 'done'), "
    f"MIN(due_at) FILTER (WHERE {_OVERDUE}) FROM jobs"
)


class JobRepository:
    """engine.scheduler.ports.JobWriter inside one open transaction."""

    def __init__(self, db: Executor, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def schedule_job(self, kind: str, key: str, *, due_at_us: int, payload: dict[str, str | int]) -> None:
        await self._db.execute(_SCHEDULE, kind, key, due_at_us, stored_json(payload), self._clock.now_us())

    async def cancel_job(self, kind: str, key: str) -> bool:
        return await self._db.execute(_CANCEL, kind, key, self._clock.now_us()) == 1


class JobQueueRepository:
    """engine.scheduler.ports.JobQueue: each write commits alone (``writes``); reads are committed rows."""

    def __init__(self, *, writes: Executor, reads: Executor) -> None:
        self._writes = writes
        self._reads = reads

    async def claim_due_jobs(self, *, now_us: int, lease_until_us: int, limit: int, kinds: Sequence[str]) -> list[Job]:
        if limit <= 0 or not kinds:
            return []
        rows = await self._writes.fetch(_CLAIM, now_us, lease_until_us, limit, list(kinds))
        return sorted((JOBS.record(r) for r in rows), key=lambda j: (j.due_at_us, j.id))

    async def finish_job(self, job: Job, *, next_due_us: int | None, now_us: int) -> bool:
        settled = await self._writes.execute(_FINISH, job.id, job.claims, job.updated_at_us, next_due_us, now_us)
        return settled == 1 or await self._release(job, now_us)

    async def fail_job(self, job: Job, *, error: str, retry_at_us: int | None, now_us: int) -> bool:
        settled = await self._writes.execute(_FAIL, job.id, job.claims, job.updated_at_us, error, retry_at_us, now_us)
        return settled == 1 or await self._release(job, now_us)

    async def _release(self, job: Job, now_us: int) -> bool:
        """End the lost settle's lease (see the module's docstring); always False: the settle did not happen."""
        await self._writes.execute(_RELEASE, job.id, job.claims, job.lease_until_us, now_us)
        return False

    async def job_by_key(self, kind: str, key: str) -> Job | None:
        row = await self._reads.fetch_one(_BY_KEY, kind, key)
        return JOBS.record(row) if row is not None else None

    async def jobs(self, *, state: str | None = None, limit: int = 50) -> list[Job]:
        if state is None:
            rows = await self._reads.fetch(_ALL, max(limit, 0))
        else:
            statement = _IN_STATE.get(str(state))
            if statement is None:
                return []
            rows = await self._reads.fetch(statement, max(limit, 0))
        return [JOBS.record(r) for r in rows]

    async def retry_dead_job(self, kind: str, key: str, *, now_us: int) -> bool:
        return await self._writes.execute(_RETRY_DEAD, kind, key, now_us) == 1

    async def job_counts(self, *, now_us: int) -> JobCounts:
        row = await self._reads.fetch_one(_COUNTS, now_us)
        assert row is not None
        due, overdue, dead, done, oldest = row
        return JobCounts(
            due=int(due), overdue=int(overdue), dead=int(dead), done=int(done),
            oldest_due_us=int(oldest) if oldest is not None else None,
        )  # fmt: skip
