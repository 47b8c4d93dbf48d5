"""Drill: the session Redis goes away while callers are mid-journey, then comes back.

While Redis is down (stopped: connections refused) or hung (SIGSTOP:
connections accepted, nothing answered) every hop must still get an HTTP 200
``END`` (the polite "service busy"), quickly: the gateway gives up after
~10 s and a caller should not stare at a spinner. Once Redis is back,
journeys complete again, and nothing a caller was shown as a receipt is lost
or applied twice.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.drills.audit import Audit, audit_ledger, cli_verify
from tests.drills.conftest import Report
from tests.drills.load import Load, classify
from tests.drills.stack import Stack, open_stack
from tests.support.gateway import http_gateways

pytestmark = pytest.mark.drill
CALLERS = 16
RECEIPTS_BEFORE = RECEIPTS_AFTER = 40
OUTAGE_S = 2.0
STOPPED_BOUND_S = 1.0  # the README: "Redis down: END Service busy within a second"
HUNG_BOUND_S = 2.0  # a hung Redis costs a socket timeout or two (0.5 s each) before the hop gives up
MIN_HOPS_STOPPED = 100  # refused connections answer at once: callers redial many times
MIN_HOPS_HUNG = 10  # each hop waits out a socket timeout
PROGRESS_TIMEOUT_S = 30.0


class Outage:
    """What a drill measured while Redis was away, and what it may take."""

    def __init__(self, stack: Stack, load: Load, down: float, up: float, *, hung: bool) -> None:
        self.bound_s = HUNG_BOUND_S if hung else STOPPED_BOUND_S
        self.least = MIN_HOPS_HUNG if hung else MIN_HOPS_STOPPED
        self.during = load.hops_between(down, up)  # sent and answered while Redis was away
        self.not_busy = [h for h in self.during if h.status != 200 or classify(stack.catalogs, h.body) != "busy"]
        sent = load.hops_sent_between(down, up)  # including any still waiting when Redis came back
        self.slow = [h for h in sent if h.elapsed > self.bound_s]
        self.slowest_ms = max((h.elapsed for h in sent), default=0.0) * 1000


async def _drill(stack: Stack, *, hang: bool) -> tuple[Load, Outage, bool, float]:
    """Load, take Redis away for OUTAGE_S (stop or freeze it), bring it back, load again."""
    async with http_gateways([stack.server.url]) as gws:
        load = Load(gws, stack.callers, stack.catalogs, seed=2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with load.running():
            assert await load.wait_for_receipts(RECEIPTS_BEFORE, PROGRESS_TIMEOUT_S), stack.logs()
            if hang:
                stack.redis.pause()
            else:
                await stack.redis.stop()
            down = loop.time()
            await asyncio.sleep(OUTAGE_S)
            up = loop.time()
            if hang:
                stack.redis.resume()
            else:
                await stack.redis.start()  # same port, no data: every session is gone
            resumed = await load.wait_for_receipts(len(load.receipts) + RECEIPTS_AFTER, PROGRESS_TIMEOUT_S)
        outage = Outage(stack, load, down, up, hung=hang)
        return load, outage, resumed, loop.time() - started


def _check(load: Load, outage: Outage, resumed: bool, audit: Audit, code: int, output: str) -> None:
    assert len(outage.during) >= outage.least, f"only {len(outage.during)} hops during the outage: no load held"
    assert not outage.not_busy, f"hops during the outage not answered 200 'END <busy>': {outage.not_busy[:5]}"
    assert not outage.slow, f"busy answers slower than {outage.bound_s} s: {outage.slow[:5]}"
    assert not load.no_answers(), f"the server dropped connections: {load.no_answers()[:3]}"
    assert not load.server_errors(), f"5xx answers: {load.server_errors()[:3]}"
    assert resumed, "no receipts after Redis came back"
    assert not load.anomalies, load.anomalies[:5]
    assert not audit.problems, audit.problems[:10]
    assert code == 0, f"enerlectra ledger verify failed after the outage:\n{output}"


def _result(load: Load, outage: Outage, resumed: bool, audit: Audit, code: int) -> str:
    ok = not (outage.not_busy or outage.slow or load.anomalies or audit.problems or code or not resumed)
    return (
        f"{len(outage.during)} hops during the outage, {len(outage.not_busy)} not a busy END, "
        f"slowest {outage.slowest_ms:.0f} ms; {len(load.receipts)} receipts all in the ledger once: "
        f"{not audit.problems}; resumed: {resumed}; " + ("ok" if ok else "PROBLEMS")
    )


async def test_redis_stopped_under_load_answers_busy_then_resumes(
    database_url: str, tmp_path: Path, report: Report
) -> None:
    async with open_stack(database_url, tmp_path, callers=CALLERS) as stack:
        load, outage, resumed, seconds = await _drill(stack, hang=False)
        audit = await audit_ledger(stack, load.receipts)
        code, output = await cli_verify(stack)

    report(
        load=load.summary(seconds),
        faults=f"redis-server stopped for {OUTAGE_S} s mid-load, restarted empty on the same port",
        result=_result(load, outage, resumed, audit, code),
    )
    _check(load, outage, resumed, audit, code, output)


async def test_redis_hung_under_load_answers_busy_then_resumes(
    database_url: str, tmp_path: Path, report: Report
) -> None:
    async with open_stack(database_url, tmp_path, callers=CALLERS) as stack:
        load, outage, resumed, seconds = await _drill(stack, hang=True)
        audit = await audit_ledger(stack, load.receipts)
        code, output = await cli_verify(stack)

    report(
        load=load.summary(seconds),
        faults=f"redis-server frozen (SIGSTOP) for {OUTAGE_S} s mid-load, then continued (SIGCONT)",
        result=_result(load, outage, resumed, audit, code),
    )
    _check(load, outage, resumed, audit, code, output)
