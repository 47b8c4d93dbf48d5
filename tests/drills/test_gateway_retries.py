"""Drill: a gateway that sends every hop twice, one after the other or both at once.

Africa's Talking may repeat a hop when our answer was slow or lost. Under
load, with every single hop doubled, each journey must still run once: both
copies get the same reply, the ledger holds exactly one operation per receipt
(and nothing else), and every wallet moved by exactly what the receipts say.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.drills.audit import audit_ledger, expected_wallets, operations_since, wallets
from tests.drills.conftest import Report
from tests.drills.load import Load, Retry
from tests.drills.stack import open_stack
from tests.support.gateway import http_gateways

pytestmark = pytest.mark.drill
CALLERS = 16
RECEIPTS = 200
PROGRESS_TIMEOUT_S = 60.0


@pytest.mark.parametrize("retry", ["sequential", "concurrent"])
async def test_every_hop_sent_twice_runs_once(database_url: str, retry: Retry, tmp_path: Path, report: Report) -> None:
    async with open_stack(database_url, tmp_path, callers=CALLERS) as stack, http_gateways([stack.server.url]) as gws:
        before = await wallets(stack)
        load = Load(gws, stack.callers, stack.catalogs, retry=retry, seed=4)
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with load.running():
            progressed = await load.wait_for_receipts(RECEIPTS, PROGRESS_TIMEOUT_S)
        seconds = loop.time() - started
        after = await wallets(stack)
        applied = await operations_since(stack, before.chain_seq)
        audit = await audit_ledger(stack, load.receipts)

    shown = {r.ref for r in load.receipts}
    expected = expected_wallets(before, load.receipts)
    moved_wrong = {p: (after.balances[p], want) for p, want in expected.items() if after.balances[p] != want}
    not_receipts = {k: v for k, v in load.endings.items() if k != "receipt"}
    problems = [*load.anomalies, *audit.problems]
    report(
        load=load.summary(seconds),
        faults=f"every hop posted twice ({retry})",
        result=f"{len(shown)} receipts, {len(applied)} ledger operations, "
        f"{len(moved_wrong)} wallets off; "
        + ("ok" if not problems and not moved_wrong else f"PROBLEMS: {problems[:3]}"),
    )
    assert progressed, f"the load stalled: {load.summary(seconds)}\n{stack.logs()}"
    assert not load.server_errors(), f"5xx answers: {load.server_errors()[:3]}"
    assert not load.no_answers(), f"hops without an answer: {load.no_answers()[:3]}"
    assert not load.anomalies, f"duplicates answered differently or journeys derailed: {load.anomalies[:5]}"
    assert not not_receipts, f"with no fault injected every journey must end in a receipt: {not_receipts}"
    assert applied == shown, (
        f"{len(applied)} operations applied for {len(shown)} receipts: "
        f"not shown {sorted(applied - shown)[:5]}, not applied {sorted(shown - applied)[:5]}"
    )
    assert not moved_wrong, (
        f"wallets (ngwee, Wh) as found vs as the receipts say: {dict(list(moved_wrong.items())[:5])}"
    )
    assert not audit.problems, audit.problems[:10]
