"""A running server moves a proposal at its deadlines, on the real clock, with nobody touching it.

On SQLite and PostgreSQL, with an ``enerlectra scheduler run`` process beside the server: the proposal
moves through each state once, however many workers there are.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from engine.coops.audit import AuditKind
from engine.coops.bylaws import Bylaws
from engine.coops.model import Choice, ProposalState
from engine.kernel.clock import MICROS_PER_SECOND, ManualClock, SystemClock
from engine.platform import Platform
from storage import open_store
from tests.conftest import TEST_CONFIG, TEST_HASHER
from tests.support.coops import DAY, CoopWorld
from tests.support.ports import free_port
from tests.support.processes import ChildProcess, clean_env
from tests.support.servers import ENERLECTRA, HttpService, enerlectra_server

PERIOD_S = 600  # the shortest voting period bylaws allow
LEAD_S = 12  # the vote closes this long after it is cast: time for the server to start while it is open
GIVE_UP_S = 90.0  # a bound for a broken scheduler to fail instead of hanging, not a measure of lateness
# Voting opens at once and a passed proposal is executed at once: the close is the deadline to watch.
RULES = Bylaws(min_members=3, voting_delay_s=0, voting_period_s=PERIOD_S, execution_delay_s=0)


async def test_a_running_server_closes_and_executes_a_proposal_on_time(database_url: str, tmp_path: Path) -> None:
    url = database_url
    now = SystemClock().now_us()
    # The co-op's past, on a clock set back: formed yesterday, the proposal made almost a voting period ago.
    clock = ManualClock(now - DAY * MICROS_PER_SECOND)
    platform = Platform(await open_store(url, clock=clock), TEST_CONFIG, TEST_HASHER, clock)
    try:
        await platform.bootstrap()
        world = CoopWorld(platform, clock)
        coop, people = await world.active_coop(3, bylaws=RULES)
        clock.set(SystemClock().now_us() - (PERIOD_S - LEAD_S) * MICROS_PER_SECOND)
        proposal = await world.propose(people[0], coop, "decision", text="Fence the panels before the rains")
        for person in people:
            await world.vote(person, proposal, Choice.YES)
    finally:
        await platform.close()

    env = clean_env(
        {
            "DATABASE_URL": url,
            "PIN_KDF_LOG2_N": "10",
            "SMS_BACKEND": "inbox",
            "MOMO_SIM_APPROVE_AFTER_MS": "0",
            "SCHEDULER_INTERVAL_S": "0.2",
        }
    )
    server = enerlectra_server(env, free_port(), tmp_path / "server.log")
    # A second worker process beside the server: on PostgreSQL both claim (SKIP LOCKED), on SQLite it stands by.
    worker = ChildProcess("scheduler", [str(ENERLECTRA), "scheduler", "run"], env, tmp_path / "worker.log")
    reader = Platform(await open_store(url), TEST_CONFIG, TEST_HASHER)  # the real clock, and no scheduler runs here
    try:
        await watch(reader, server, worker, proposal.id, url.startswith("sqlite:"))
        current = await reader.governance.get(proposal.id)
        assert current.tally.yes == 3
        assert current.executed_at_us >= current.vote_end_us, "executed before its vote closed"
        entries = await reader.store.coops.audit_entries(coop.id, after_seq=0, limit=1000)
        moves = [
            (e.body.get("to"), e.at_us, e.actor_id)
            for e in entries
            if e.proposal_id == proposal.id and e.kind in (AuditKind.TRANSITION, AuditKind.EXECUTED)
        ]
        assert [to for to, _at, _actor in moves] == ["active", "succeeded", "queued", "executed"]  # each once
        closed_at = moves[1][1]
        assert closed_at >= current.vote_end_us, "the vote was closed early"
        assert {actor for _to, _at, actor in moves} == {0}, "moved by the platform's scheduler, nobody else"
        broken, recounts = await reader.governance.verify(coop.id)
        assert broken is None
        assert all(r.agrees for r in recounts)
        assert (await reader.scheduler.counts()).dead == 0
    finally:
        await reader.close()


async def watch(reader: Platform, server: HttpService, worker: ChildProcess, proposal_id: str, sqlite: bool) -> None:
    """Start the server and the worker, wait for the proposal to be executed, check /metrics; stop both."""
    await server.start()
    worker.spawn()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LEAD_S + GIVE_UP_S
        while (current := await reader.governance.get(proposal_id)).state is not ProposalState.EXECUTED:
            assert loop.time() < deadline, f"still {current.state} long after its close:\n{server.log()}"
            await asyncio.sleep(0.1)
        metrics = await scraped(server.url, 'enerlectra_scheduler_jobs{state="done"} 1.0', deadline)
    finally:
        await worker.stop()
        await server.stop()
    assert worker.returncode == 0, worker.log()
    assert "stopped: " in worker.log()
    assert 'enerlectra_scheduler_jobs{state="dead"} 0.0' in metrics
    assert "enerlectra_scheduler_lag_seconds 0.0" in metrics
    prefix = 'enerlectra_scheduler_job_runs_total{outcome="finished"} '
    finished = [float(line.removeprefix(prefix)) for line in metrics.splitlines() if line.startswith(prefix)]
    if sqlite:  # the server's own runs: on SQLite it is the one worker (on PostgreSQL the other may take some)
        assert finished, metrics
        assert finished[0] >= 2  # opened, then closed and executed: one run at each deadline


async def scraped(url: str, line: str, deadline: float) -> str:
    """``/metrics`` once it holds ``line`` (the job is settled just after the proposal's own commit)."""
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as http:
        while True:
            async with http.get(f"{url}/metrics") as response:
                text = await response.text()
            if line in text.splitlines():
                return text
            assert loop.time() < deadline, f"no {line!r} in:\n{text}"
            await asyncio.sleep(0.1)
