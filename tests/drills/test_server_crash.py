"""Drill: the server process is killed with SIGKILL under load and restarted on the same port.

Callers keep buying energy and sending it to each other with their PIN throughout.
Whatever a caller was shown as a receipt must be in the ledger exactly once
with its SMS queued, no wallet may go below zero, and the ledger must verify,
both from the engine and with ``enerlectra ledger verify``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.drills.audit import audit_ledger, cli_verify
from tests.drills.conftest import Report
from tests.drills.load import Load
from tests.drills.stack import open_stack
from tests.support.gateway import http_gateways

pytestmark = pytest.mark.drill
CALLERS = 24
KILLS = 3
RECEIPTS_BETWEEN_KILLS = 50
PROGRESS_TIMEOUT_S = 30.0
DOWN_FOR_S = 0.3


async def test_sigkill_under_load_loses_no_receipt(database_url: str, tmp_path: Path, report: Report) -> None:
    async with open_stack(database_url, tmp_path, callers=CALLERS) as stack, http_gateways([stack.server.url]) as gws:
        load = Load(gws, stack.callers, stack.catalogs, seed=1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        kills: list[float] = []
        async with load.running():
            for _ in range(KILLS):
                target = len(load.receipts) + RECEIPTS_BETWEEN_KILLS
                assert await load.wait_for_receipts(target, PROGRESS_TIMEOUT_S), (
                    f"no progress under load: {load.summary(loop.time() - started)}\n{stack.logs()}"
                )
                kills.append(loop.time())
                await stack.server.kill()
                await asyncio.sleep(DOWN_FOR_S)
                await stack.server.start()
            resumed = await load.wait_for_receipts(len(load.receipts) + RECEIPTS_BETWEEN_KILLS, PROGRESS_TIMEOUT_S)
        seconds = loop.time() - started
        audit = await audit_ledger(stack, load.receipts)
        code, output = await cli_verify(stack)

    problems = [*load.anomalies, *audit.problems]
    cut = [h for moment in kills for h in load.cut_at(moment)]
    report(
        load=load.summary(seconds),
        faults=f"SIGKILL of `enerlectra serve` x{KILLS} mid-load ({len(cut)} hops in flight cut off), "
        f"restarted on the same port after {DOWN_FOR_S} s",
        result=f"{len(load.receipts)} receipts checked in {audit.operations} ledger operations, their SMS rows "
        f"{dict(audit.sms)} (pending: not sent yet, or leased by a killed worker until the lease ends); "
        + ("ok" if not problems and code == 0 and resumed else f"PROBLEMS: {problems[:3]}"),
    )
    assert cut, "no hop was in flight when the server was killed: the drill did not kill it mid-load"
    assert resumed, "callers got no receipts after the last restart"
    assert not load.server_errors(), f"5xx answers: {load.server_errors()[:3]}"
    assert not load.anomalies, load.anomalies[:5]
    assert not audit.problems, audit.problems[:10]
    assert code == 0, f"enerlectra ledger verify failed after the crash:\n{output}"
