"""The scheduler worker: run due jobs in batches, in the background of a server (or CLI) process.

Every pass claims up to ``batch`` due jobs (``Scheduler.run_due``) and runs
them one after another. A full batch is followed by the next at once (more
may be due); otherwise the worker sleeps ``interval_s`` or until woken. A
pass that fails (the database is struggling) is logged and tried again at
the next interval: a job claimed and not settled is claimed again when its
lease ends, and its handler is idempotent (engine/scheduler/runner.py).

On SQLite the worker runs only while it holds the database's single-worker
lock (:mod:`ussd_server.scheduler.lock`); a process that cannot take it
stands by and tries again at each interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from engine.scheduler.runner import RunReport, Scheduler
from ussd_server.scheduler.lock import SingleWorkerLock

log = logging.getLogger("enerlectra.scheduler")


def added(a: RunReport, b: RunReport) -> RunReport:
    return RunReport(a.claimed + b.claimed, a.finished + b.finished, a.failed + b.failed, a.dead + b.dead,
                     a.lost + b.lost)  # fmt: skip


class SchedulerWorker:
    def __init__(
        self,
        scheduler: Scheduler,
        *,
        batch: int = 100,
        interval_s: float = 5.0,
        lock: SingleWorkerLock | None = None,
        on_report: Callable[[RunReport], None] = lambda _report: None,
    ) -> None:
        self._scheduler = scheduler
        self.batch = batch
        self._interval_s = interval_s
        self._lock = lock
        self._wake = asyncio.Event()
        self._standing_by = False
        self.on_report = on_report  # each pass that ran something (metrics, tests)

    def wake(self) -> None:
        """Look for due jobs now instead of at the next interval."""
        self._wake.set()

    def may_run(self) -> bool:
        """Whether this process may run jobs now: it holds the SQLite lock (taking it if free), or needs none."""
        return self._lock is None or self._lock.try_acquire()

    async def run_once(self) -> RunReport:
        """One batch of due jobs; nothing while another process holds the single-worker lock."""
        if not self.may_run():
            if not self._standing_by and self._lock is not None:
                log.info("another process (pid %s) runs the scheduler on this SQLite database", self._lock.holder())
            self._standing_by = True
            return RunReport()
        if self._standing_by:
            log.info("this process runs the scheduler now")
            self._standing_by = False
        report = await self._scheduler.run_due(limit=self.batch)
        if report.claimed:
            self.on_report(report)
        if report.dead:
            log.error("%d scheduled jobs are dead: `enerlectra scheduler status` lists them", report.dead)
        return report

    async def run_until_idle(self, *, max_passes: int = 10_000) -> RunReport:
        """Batches until one is not full (every job due now has run); the total."""
        total = RunReport()
        for _ in range(max_passes):
            report = await self.run_once()
            total = added(total, report)
            if report.claimed < self.batch:
                break
        return total

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Pass after pass until ``stop`` is set; the batch in flight then finishes (the drain)."""
        while not stop.is_set():
            self._wake.clear()
            claimed = 0
            try:
                claimed = (await self.run_once()).claimed
            except Exception:  # a database outage: the next interval tries again
                log.exception("scheduler pass failed")
            if claimed >= self.batch:
                await asyncio.sleep(0)  # a full batch: more may be due, but let the rest of the process run first
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._until_woken(stop), timeout=self._interval_s)

    async def _until_woken(self, stop: asyncio.Event) -> None:
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    def close(self) -> None:
        """Let another process take the single-worker lock."""
        if self._lock is not None:
            self._lock.release()


@contextlib.asynccontextmanager
async def running(worker: SchedulerWorker, stop_timeout_s: float) -> AsyncIterator[SchedulerWorker]:
    """Run ``worker`` until the block ends; then let its batch in flight finish (within ``stop_timeout_s``).

    A batch cut short there loses nothing: its claimed jobs are claimed again when their lease ends.
    """
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run_forever(stop), name="scheduler-worker")
    try:
        yield worker
    finally:
        stop.set()
        worker.wake()
        try:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, timeout=stop_timeout_s)
        finally:
            worker.close()
