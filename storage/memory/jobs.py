"""The in-memory scheduled jobs (engine.scheduler.ports): the answers of storage.repositories.jobs.

``updated_at`` moves forward on every write to a job, by at least one
microsecond even when the clock stands still, so a worker's settle (which
compares it with what its claim returned) sees any write made meanwhile: a
reschedule, a cancel, another worker's claim after the lease ran out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace

from engine.kernel.clock import Clock
from engine.scheduler.model import Job, JobCounts, JobState
from storage.coop_tables import stored_json
from storage.memory.ledger import ConstraintViolation
from storage.memory.tables import MemoryData, Tables


def _copy(job: Job) -> Job:
    """As a read hands it out: the payload is the caller's to change, never the table's."""
    return replace(job, payload=dict(job.payload))


def _touched(job: Job, now_us: int) -> int:
    """The job's next ``updated_at``: now, or one past the last write when the clock has not moved on."""
    return max(now_us, job.updated_at_us + 1)


def _held(job: Job | None, claimed: Job) -> bool:
    """``claimed``'s worker still holds the row: nobody claimed, rescheduled or settled it since."""
    return (
        job is not None
        and job.state is JobState.DUE
        and (job.claims, job.updated_at_us) == (claimed.claims, claimed.updated_at_us)
    )


class MemoryJobs:
    """engine.scheduler.ports.JobWriter inside one transaction."""

    def __init__(self, tables: Tables, clock: Clock) -> None:
        self._t = tables
        self._clock = clock

    async def schedule_job(self, kind: str, key: str, *, due_at_us: int, payload: dict[str, str | int]) -> None:
        if due_at_us < 0:
            raise ConstraintViolation(f"job {kind}/{key}: due at {due_at_us}")
        stored: dict[str, str | int] = json.loads(stored_json(payload))
        now = self._clock.now_us()
        job_id = self._t.job_ids.get((kind, key))
        current = self._t.jobs.get(job_id) if job_id is not None else None
        if job_id is None or current is None:
            job_id = self._t.next_id("jobs")
            self._t.job_ids.put((kind, key), job_id)
            self._t.jobs.put(job_id, Job(kind, key, due_at_us, stored, id=job_id, updated_at_us=now))
            return
        waiting = current.state is JobState.DUE
        self._t.jobs.put(
            job_id,
            replace(
                current,
                due_at_us=due_at_us,
                payload=stored,
                state=JobState.DUE,
                attempts=current.attempts if waiting else 0,
                last_error=current.last_error if waiting else "",
                updated_at_us=_touched(current, now),
            ),
        )

    async def cancel_job(self, kind: str, key: str) -> bool:
        job_id = self._t.job_ids.get((kind, key))
        current = self._t.jobs.get(job_id) if job_id is not None else None
        if job_id is None or current is None or current.state is not JobState.DUE:
            return False
        now = self._clock.now_us()
        self._t.jobs.put(job_id, replace(current, state=JobState.DONE, updated_at_us=_touched(current, now)))
        return True


class MemoryJobQueue:
    """engine.scheduler.ports.JobQueue: each call one short transaction of its own."""

    def __init__(self, data: MemoryData, committed: Tables) -> None:
        self._data = data
        self._committed = committed

    async def claim_due_jobs(self, *, now_us: int, lease_until_us: int, limit: int, kinds: Sequence[str]) -> list[Job]:
        wanted = set(kinds)
        async with self._data.transaction() as t:
            due = sorted(
                (
                    j
                    for j in t.jobs.values()
                    if j.state is JobState.DUE
                    and j.kind in wanted
                    and j.due_at_us <= now_us
                    and j.lease_until_us <= now_us
                ),
                key=lambda j: (j.due_at_us, j.id),
            )[: max(limit, 0)]
            claimed = [
                replace(j, lease_until_us=lease_until_us, claims=j.claims + 1, updated_at_us=_touched(j, now_us))
                for j in due
            ]
            for job in claimed:
                t.jobs.put(job.id, job)
        return [_copy(j) for j in claimed]

    async def finish_job(self, job: Job, *, next_due_us: int | None, now_us: int) -> bool:
        state = JobState.DONE if next_due_us is None else JobState.DUE
        return await self._settle(job, now_us, state=state, due_at_us=next_due_us, error=None)

    async def fail_job(self, job: Job, *, error: str, retry_at_us: int | None, now_us: int) -> bool:
        state = JobState.DEAD if retry_at_us is None else JobState.DUE
        return await self._settle(job, now_us, state=state, due_at_us=retry_at_us, error=error)

    async def _settle(
        self, job: Job, now_us: int, *, state: JobState, due_at_us: int | None, error: str | None
    ) -> bool:
        """The claimed ``job`` ran (``error``: it failed), if the claim still holds, as the SQL's compare does."""
        async with self._data.transaction() as t:
            current = t.jobs.get(job.id)
            if not _held(current, job):
                self._release(t, current, job, now_us)
                return False
            assert current is not None
            settled = replace(
                current,
                state=state,
                due_at_us=current.due_at_us if due_at_us is None else due_at_us,
                attempts=0 if error is None else current.attempts + 1,
                lease_until_us=0,
                last_error=error or "",
                updated_at_us=_touched(current, now_us),
            )
            t.jobs.put(job.id, settled)
            return True

    @staticmethod
    def _release(t: Tables, current: Job | None, job: Job, now_us: int) -> None:
        """A settle that lost to a reschedule still ends its own lease: the new due time needs no wait."""
        if current is not None and current.claims == job.claims and current.lease_until_us == job.lease_until_us:
            t.jobs.put(job.id, replace(current, lease_until_us=0, updated_at_us=_touched(current, now_us)))

    async def job_by_key(self, kind: str, key: str) -> Job | None:
        job_id = self._committed.job_ids.get((kind, key))
        job = self._committed.jobs.get(job_id) if job_id is not None else None
        return _copy(job) if job is not None else None

    async def jobs(self, *, state: str | None = None, limit: int = 50) -> list[Job]:
        rows = (j for j in self._committed.jobs.values() if state is None or j.state == state)
        return [_copy(j) for j in sorted(rows, key=lambda j: (j.due_at_us, j.id))[: max(limit, 0)]]

    async def retry_dead_job(self, kind: str, key: str, *, now_us: int) -> bool:
        async with self._data.transaction() as t:
            job_id = t.job_ids.get((kind, key))
            current = t.jobs.get(job_id) if job_id is not None else None
            if current is None or current.state is not JobState.DEAD:
                return False
            t.jobs.put(
                current.id,
                replace(
                    current,
                    state=JobState.DUE,
                    due_at_us=now_us,
                    attempts=0,
                    lease_until_us=0,
                    updated_at_us=_touched(current, now_us),
                ),
            )
            return True

    async def job_counts(self, *, now_us: int) -> JobCounts:
        due = overdue = dead = done = 0
        oldest: int | None = None
        for j in self._committed.jobs.values():
            if j.state is JobState.DUE:
                due += 1
                if j.due_at_us < now_us and j.lease_until_us <= now_us:
                    overdue += 1
                    oldest = j.due_at_us if oldest is None else min(oldest, j.due_at_us)
            dead += j.state is JobState.DEAD
            done += j.state is JobState.DONE
        return JobCounts(due=due, overdue=overdue, dead=dead, done=done, oldest_due_us=oldest)
