"""Running due jobs: claim a batch, run each job's handler, settle it (done, again later, retry or dead).

Delivery is at least once: a worker that dies after its handler committed and
before it settled the job leaves a claim whose lease ends, and another worker
runs the job again. Handlers are therefore written to be idempotent: they
decide from the state they read in their own transaction (a proposal already
executed is not executed twice), which is what makes the work exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from engine.kernel.clock import MICROS_PER_SECOND, Clock
from engine.scheduler.model import Job, JobCounts, RetryPolicy
from engine.scheduler.ports import JobQueue

log = logging.getLogger(__name__)

# A handler runs one job and says when the job is due next (None: it is finished).
JobHandler = Callable[[Job], Awaitable[int | None]]


@dataclass(frozen=True, slots=True)
class RunReport:
    claimed: int = 0
    finished: int = 0
    failed: int = 0
    dead: int = 0
    lost: int = 0  # settled by someone else meanwhile (a lease that ran out, a reschedule)


class Scheduler:
    """Which handler runs each kind of job, and one pass over the due ones."""

    def __init__(self, queue: JobQueue, clock: Clock, policy: RetryPolicy | None = None) -> None:
        self._queue = queue
        self._clock = clock
        self.policy = policy or RetryPolicy()
        self._handlers: dict[str, JobHandler] = {}

    def register(self, kind: str, handler: JobHandler) -> None:
        """Run ``handler`` for jobs of ``kind`` (registered explicitly when the platform is built)."""
        if kind in self._handlers:
            raise ValueError(f"a handler for {kind!r} is registered already")
        self._handlers[kind] = handler

    @property
    def kinds(self) -> list[str]:
        return sorted(self._handlers)

    async def run_due(self, *, limit: int = 100) -> RunReport:
        """Claim up to ``limit`` due jobs and run them one after another."""
        now = self._clock.now_us()
        jobs = await self._queue.claim_due_jobs(
            now_us=now, lease_until_us=now + self.policy.lease_s * MICROS_PER_SECOND, limit=limit, kinds=self.kinds
        )
        finished = failed = dead = lost = 0
        for job in jobs:
            outcome = await self.run(job)
            finished += outcome == "finished"
            failed += outcome == "failed"
            dead += outcome == "dead"
            lost += outcome == "lost"
        return RunReport(claimed=len(jobs), finished=finished, failed=failed, dead=dead, lost=lost)

    async def run(self, job: Job) -> str:
        """Run one claimed job and settle it; returns finished, failed, dead or lost."""
        handler = self._handlers[job.kind]
        try:
            next_due = await handler(job)
        except Exception as error:
            attempts = job.attempts + 1
            now = self._clock.now_us()
            retry_at = self.policy.retry_at_us(now, attempts)
            reason = f"{type(error).__name__}: {error}"[:500]
            log.warning("job failed", extra={"job": job.kind, "key": job.key, "attempts": attempts, "error": reason})
            settled = await self._queue.fail_job(job, error=reason, retry_at_us=retry_at, now_us=now)
            if not settled:
                return "lost"
            return "failed" if retry_at is not None else "dead"
        settled = await self._queue.finish_job(job, next_due_us=next_due, now_us=self._clock.now_us())
        return "finished" if settled else "lost"

    async def counts(self) -> JobCounts:
        return await self._queue.job_counts(now_us=self._clock.now_us())

    async def jobs(self, *, state: str | None = None, limit: int = 50) -> list[Job]:
        """Jobs by due time, in ``state`` if given (``dead``: what an operator looks at)."""
        return await self._queue.jobs(state=state, limit=limit)

    async def retry_dead(self, kind: str, key: str) -> bool:
        return await self._queue.retry_dead_job(kind, key, now_us=self._clock.now_us())
