"""``enerlectra scheduler ...``: operators watch and drive due work (proposals' deadlines, refunds).

enerlectra scheduler status            jobs due, overdue and dead, the lag, and each dead job's last error
enerlectra scheduler run [--once]      a worker process (PostgreSQL: any number; SQLite: one at a time);
                                       --once: run every job due now, then exit
enerlectra scheduler retry KIND KEY    a dead job is due again now
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from engine.kernel.clock import MICROS_PER_SECOND
from engine.platform import Platform
from engine.scheduler.model import Job, JobState
from engine.scheduler.runner import RunReport, Scheduler
from ussd_server.scheduler.runtime import worker_for
from ussd_server.scheduler.worker import SchedulerWorker, added
from ussd_server.settings import Settings

Command = Callable[[Platform, argparse.Namespace], Awaitable[int]]
DEAD_SHOWN = 50


def _when(us: int) -> str:
    return datetime.fromtimestamp(us / MICROS_PER_SECOND, UTC).strftime("%Y-%m-%d %H:%M UTC") if us else "-"


def _seconds(us: int) -> str:
    s = us // MICROS_PER_SECOND
    if s < 120:
        return f"{s} s"
    if s < 2 * 3600:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    scheduler = sub.add_parser("scheduler", help="due work: proposals' deadlines, refunds").add_subparsers(
        dest="action", required=True
    )
    scheduler.add_parser("status", help="jobs due, overdue and dead, and the lag")
    run = scheduler.add_parser("run", help="run due jobs in this process until stopped (SIGTERM, Ctrl-C)")
    run.add_argument("--once", action="store_true", help="run every job due now, then exit")
    retry = scheduler.add_parser("retry", help="make a dead job due again now")
    retry.add_argument("kind", help="e.g. coop.proposal")
    retry.add_argument("key", help="e.g. a proposal's id (pr-...)")


async def dead_jobs(scheduler: Scheduler, *, limit: int) -> list[Job]:
    """Dead jobs, by due time."""
    return await scheduler.jobs(state=JobState.DEAD.value, limit=limit)


def describe(job: Job) -> str:
    return (
        f"  {job.kind} {job.key}: {job.attempts} failed attempts, last {_when(job.updated_at_us)}\n"
        f"      {job.last_error or '(no error recorded)'}"
    )


async def status(platform: Platform, _args: argparse.Namespace) -> int:
    counts = await platform.scheduler.counts()
    now = platform.clock.now_us()
    print(f"jobs: {counts.due} due (now or later), {counts.overdue} overdue, {counts.dead} dead, {counts.done} done")
    if counts.oldest_due_us is None:
        print("lag: nothing overdue")
    else:
        print(f"lag: the oldest overdue job was due {_seconds(max(now - counts.oldest_due_us, 0))} ago")
    print(f"kinds: {', '.join(platform.scheduler.kinds)}")
    if not counts.dead:
        return 0
    dead = await dead_jobs(platform.scheduler, limit=DEAD_SHOWN)
    print("dead jobs (an operator decides; `enerlectra scheduler retry KIND KEY` once the cause is fixed):")
    for job in dead:
        print(describe(job))
    if counts.dead > len(dead):
        print(f"  ... and {counts.dead - len(dead)} more")
    return 0


def _summary(report: RunReport) -> str:
    return (
        f"{report.claimed} jobs run: {report.finished} finished, {report.failed} failed (retried later),"
        f" {report.dead} dead, {report.lost} settled elsewhere"
    )


async def run(platform: Platform, args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    worker = worker_for(settings, platform)
    try:
        if args.once:
            return await _run_once(worker)
        return await _run_until_signalled(worker, platform.backend)
    finally:
        worker.close()


async def _run_once(worker: SchedulerWorker) -> int:
    if not worker.may_run():
        print("another process (the server, or `enerlectra scheduler run`) runs the scheduler on this SQLite database;")
        print("SQLite has one worker at a time: nothing was run here")
        return 1
    print(_summary(await worker.run_until_idle()))
    return 0


async def _run_until_signalled(worker: SchedulerWorker, backend: str) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    total = RunReport()

    def count(report: RunReport) -> None:
        nonlocal total
        total = added(total, report)

    worker.on_report = count
    if not worker.may_run():
        print("another process runs the scheduler on this SQLite database (one worker at a time):", flush=True)
        print("this one stands by and takes over when that one stops", flush=True)
    print(f"running due jobs on {backend} until stopped (SIGTERM or Ctrl-C)", flush=True)
    try:
        await worker.run_forever(stop)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(signum)
    print(f"stopped: {_summary(total)}")
    return 0


async def retry(platform: Platform, args: argparse.Namespace) -> int:
    if args.kind not in platform.scheduler.kinds:
        print(f"no such kind of job: {args.kind!r} (kinds: {', '.join(platform.scheduler.kinds)})")
        return 1
    if not await platform.scheduler.retry_dead(args.kind, args.key):
        print(f"no dead job {args.kind} {args.key}: `enerlectra scheduler status` lists the dead ones")
        return 1
    print(f"{args.kind} {args.key} is due again now; a running scheduler takes it within SCHEDULER_INTERVAL_S")
    return 0


COMMANDS: dict[tuple[str, str | None], Command] = {
    ("scheduler", "status"): status,
    ("scheduler", "run"): run,
    ("scheduler", "retry"): retry,
}
