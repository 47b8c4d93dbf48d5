"""The scheduler in a server process: started with the app's resources, stopped (drained) before they close."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from engine.platform import Platform
from engine.scheduler.runner import RunReport
from ussd_server.scheduler.lock import SingleWorkerLock, lock_path_for
from ussd_server.scheduler.worker import SchedulerWorker, running
from ussd_server.settings import Settings

STOP_TIMEOUT_S = 10.0  # a batch in flight at shutdown gets this long; what is cut short runs again later


def worker_for(
    settings: Settings, platform: Platform, on_report: Callable[[RunReport], None] = lambda _report: None
) -> SchedulerWorker:
    """A worker over ``platform``'s scheduler (its retries come from the settings too), batch, interval, SQLite lock."""
    path = lock_path_for(settings.database_url)
    return SchedulerWorker(
        platform.scheduler,
        batch=settings.scheduler_batch,
        interval_s=settings.scheduler_interval_s,
        lock=SingleWorkerLock(path) if path is not None else None,
        on_report=on_report,
    )


@contextlib.asynccontextmanager
async def scheduling(
    settings: Settings, platform: Platform, on_report: Callable[[RunReport], None] = lambda _report: None
) -> AsyncIterator[SchedulerWorker | None]:
    """Run due jobs in this process while the block runs (None when ``SCHEDULER_ENABLED`` is off)."""
    if not settings.scheduler_enabled:
        yield None
        return
    async with running(worker_for(settings, platform, on_report), STOP_TIMEOUT_S) as worker:
        yield worker
