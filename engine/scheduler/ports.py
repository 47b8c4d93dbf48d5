"""What the scheduler needs from a database: schedule inside a transaction, claim and settle outside one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from engine.scheduler.model import Job, JobCounts


class JobWriter(Protocol):
    """Scheduling inside another unit of work, so a job commits with what it is about (or neither does)."""

    async def schedule_job(self, kind: str, key: str, *, due_at_us: int, payload: dict[str, str | int]) -> None:
        """Insert the job ``(kind, key)``, or make the existing one due at ``due_at_us`` with ``payload``.

        A done or dead job becomes due again with its attempts reset; a claimed
        one keeps its claim (the worker's settle then sees the new due time).
        """
        ...

    async def cancel_job(self, kind: str, key: str) -> bool:
        """Mark the job done without running it; False if there was none waiting."""
        ...


class JobQueue(Protocol):
    """The worker's side: each call is one short transaction of its own."""

    async def claim_due_jobs(self, *, now_us: int, lease_until_us: int, limit: int, kinds: Sequence[str]) -> list[Job]:
        """Lease up to ``limit`` jobs of ``kinds`` due at ``now_us`` and not leased, earliest first.

        Each claimed row gets ``lease_until_us`` and ``claims + 1`` in one
        statement; several processes never claim the same row (PostgreSQL:
        ``FOR UPDATE SKIP LOCKED``; SQLite: the database's write lock). A claim
        whose worker died is claimable again once its lease ends.
        """
        ...

    async def finish_job(self, job: Job, *, next_due_us: int | None, now_us: int) -> bool:
        """The handler succeeded: done, or due again at ``next_due_us`` with attempts reset.

        Only if the row is still at ``job.claims`` and nobody rescheduled it
        meanwhile (a newer ``schedule_job`` wins); False otherwise.
        """
        ...

    async def fail_job(self, job: Job, *, error: str, retry_at_us: int | None, now_us: int) -> bool:
        """The handler raised: due again at ``retry_at_us`` with ``attempts + 1``, or dead when None."""
        ...

    async def job_by_key(self, kind: str, key: str) -> Job | None: ...

    async def jobs(self, *, state: str | None = None, limit: int = 50) -> list[Job]:
        """Jobs by due time (dead ones are what operators look at)."""
        ...

    async def retry_dead_job(self, kind: str, key: str, *, now_us: int) -> bool:
        """An operator's decision: a dead job is due now again with its attempts reset."""
        ...

    async def job_counts(self, *, now_us: int) -> JobCounts: ...
