"""Drill: PostgreSQL drops every connection of the server while callers are mid-journey.

An operator's failover, a restarted PgBouncer or an idle-connection killer
all look like this from the server: ``pg_terminate_backend`` on each of its
connections. The hops that hit a dead connection must end with the short
apology that carries an error reference (also in the server log), never an
HTTP error; the pool must reconnect by itself so journeys succeed again; and
the ledger must be whole.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from urllib.parse import urlparse

import asyncpg
import pytest

from tests.drills.audit import audit_ledger, cli_verify
from tests.drills.conftest import Report
from tests.drills.load import Load, classify
from tests.drills.stack import open_stack
from tests.support.gateway import http_gateways

pytestmark = pytest.mark.drill
CALLERS = 16
RECEIPTS_BEFORE = RECEIPTS_AFTER = 40
WAVES = 3
BETWEEN_WAVES_S = 0.4
RECOVERY_S = 1.0  # after the last wave, the pool has this long to heal before every journey must succeed
PROGRESS_TIMEOUT_S = 30.0
TERMINATE = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()"
)


async def terminate_connections(database_url: str) -> int:
    """Kill every other backend connected to the drill database; returns how many."""
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        return int(await conn.fetchval(TERMINATE, urlparse(database_url).path.lstrip("/")))
    finally:
        await conn.close()


@pytest.mark.parametrize("backend", ["postgres"])
async def test_postgres_connections_killed_under_load_then_pool_recovers(
    database_url: str, tmp_path: Path, report: Report
) -> None:
    async with open_stack(database_url, tmp_path, callers=CALLERS) as stack, http_gateways([stack.server.url]) as gws:
        load = Load(gws, stack.callers, stack.catalogs, seed=3)
        loop = asyncio.get_running_loop()
        started = loop.time()
        killed = []
        async with load.running():
            assert await load.wait_for_receipts(RECEIPTS_BEFORE, PROGRESS_TIMEOUT_S), stack.logs()
            for _ in range(WAVES):
                killed.append(await terminate_connections(database_url))
                await asyncio.sleep(BETWEEN_WAVES_S)
            healed = loop.time() + RECOVERY_S
            await asyncio.sleep(RECOVERY_S)
            resumed = await load.wait_for_receipts(len(load.receipts) + RECEIPTS_AFTER, PROGRESS_TIMEOUT_S)
        seconds = loop.time() - started
        audit = await audit_ledger(stack, load.receipts)
        code, output = await cli_verify(stack)
        server_log = stack.server.log(tail=10_000_000)

    endings = [(h, classify(stack.catalogs, h.body)) for h in load.hops if h.status == 200 and h.body.startswith("END")]
    apologies = [h for h, kind in endings if kind == "apology"]
    unlogged = [h.body for h in apologies if f"ref={re.findall(r'[0-9A-F]{6}', h.body)[-1]}" not in server_log]
    after_healing = [h for h in apologies if h.started >= healed]
    strange = [h.body for h, kind in endings if kind not in ("receipt", "apology", "busy")]
    problems = [*load.anomalies, *audit.problems, *strange[:3]]
    report(
        load=load.summary(seconds),
        faults=f"pg_terminate_backend on all server connections, {WAVES} waves {BETWEEN_WAVES_S} s apart "
        f"({sum(killed)} connections killed)",
        result=f"{len(apologies)} hops ended with an apology (all logged: {not unlogged}), "
        f"{len(after_healing)} after {RECOVERY_S} s; resumed: {resumed}; "
        + ("ok" if not problems and code == 0 and not after_healing else f"PROBLEMS: {problems[:3]}"),
    )
    assert sum(killed) >= WAVES, f"the drill killed only {killed} connections: the server held none open?"
    assert not load.server_errors(), f"5xx answers: {load.server_errors()[:3]}"
    assert not load.no_answers(), f"the server dropped HTTP connections: {load.no_answers()[:3]}"
    assert not strange, f"hops ended with something other than a receipt, busy or an apology: {strange[:5]}"
    assert not unlogged, f"apologies whose reference is not in the server log: {unlogged[:5]}"
    assert resumed, f"no receipts after the connections were killed: {load.summary(seconds)}\n{stack.logs()}"
    assert not after_healing, f"the pool had not recovered {RECOVERY_S} s after the last wave: {after_healing[:3]}"
    assert not load.anomalies, load.anomalies[:5]
    assert not audit.problems, audit.problems[:10]
    assert code == 0, f"enerlectra ledger verify failed:\n{output}"
