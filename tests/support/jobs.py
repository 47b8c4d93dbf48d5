"""Driving the scheduler in tests: run what is due until nothing is."""

from __future__ import annotations

from engine.scheduler.runner import RunReport, Scheduler


async def run_until_idle(scheduler: Scheduler) -> RunReport:
    """Run every job due now, until none is (a handler may make more work due at once); the totals."""
    total = RunReport()
    while True:
        report = await scheduler.run_due(limit=1000)
        total = RunReport(
            total.claimed + report.claimed, total.finished + report.finished, total.failed + report.failed,
            total.dead + report.dead, total.lost + report.lost,
        )  # fmt: skip
        if not report.claimed:
            return total
