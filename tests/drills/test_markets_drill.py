"""Drill: trading clients SIGKILLed twice while they stream crossing orders into one cluster's book, then retrying.

Three client processes (:mod:`tests.drills.market_worker`) each send 300 orders,
sells and buys that all cross, through the real platform on the test's
database, one operation id per order. Every client is killed with SIGKILL
twice at arbitrary moments and started again from a little before the last
order it heard back about: it re-sends orders it placed, and the one it may or
may not have placed when it died, with the same operation ids (the
at-least-once retry of a real client).

At the end: every order placed once per operation id and as planned; every
order that came back placed is in the book and nothing else is; each order's
own fills are the ones its client was told about on its first answer; every
trade has exactly its ledger transfers and every invariant of
:mod:`tests.support.market_checks` holds (reservations, wallets, conservation,
a book never crossed); ``enerlectra ledger verify`` passes.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from engine.kernel.clock import MICROS_PER_SECOND, SystemClock
from engine.markets.model import Side
from storage import open_store
from tests.conftest import TEST_HASHER
from tests.drills.conftest import Report
from tests.drills.market_worker import CLUSTER, FEE_BPS, RESEND, ShiftedClock, operation_id, plan, restart_from
from tests.support.market_checks import check_markets
from tests.support.market_world import MarketWorld
from tests.support.processes import ChildProcess, clean_env
from tests.support.servers import run_cli

pytestmark = pytest.mark.drill
WORKERS = 3
ORDERS = 300  # per client
KILLS = 2
LOSE_EVERY = 100  # each client also dies right after every 100th order committed, before its answer
SETTLE_TIMEOUT_S = 150.0
# 2026-01-01 10:01 UTC (12:01 in Lusaka): the next delivery slot stays open for nine minutes.
START_US = (1_767_225_600 + 10 * 3600 + 60) * MICROS_PER_SECOND


@dataclass
class Answers:
    """What the clients heard back, from their logs: per (worker, k), each answer in order."""

    acks: dict[tuple[int, int], list[tuple[bool, int]]] = field(default_factory=lambda: defaultdict(list))
    refused: Counter[str] = field(default_factory=Counter)
    done: int = 0
    last: dict[int, int] = field(default_factory=dict)  # per worker, the last k it heard back about

    @property
    def placed(self) -> int:
        return len(self.acks)


def read_answers(workers: list[ChildProcess]) -> Answers:
    answers = Answers()
    for w, worker in enumerate(workers):
        text = worker.log_path.read_text() if worker.log_path.exists() else ""
        for line in text.splitlines():
            words = line.split()
            if words[:1] == ["ack"]:
                k = int(words[1])
                answers.acks[w, k].append((words[2] == "1", int(words[3])))
                answers.last[w] = k
            elif words[:1] == ["refused"]:
                answers.refused[words[2]] += 1
                answers.last[w] = int(words[1])
            elif words == ["done"]:
                answers.done += 1
    return answers


def placed_at_least(target: int) -> Callable[[Answers], bool]:
    return lambda answers: answers.placed >= target


async def seed(database_url: str, clock: ShiftedClock) -> tuple[MarketWorld, tuple[int, int]]:
    """The cluster and each client's seller (energy) and buyer (money), as traders 2w+1 and 2w+2; its band."""
    store = await open_store(database_url, clock=clock)
    world = await MarketWorld.open(store, clock, TEST_HASHER, fee_bps=FEE_BPS)
    try:
        await world.cluster(CLUSTER)
        for _ in range(WORKERS):
            await world.trader(wh=400_000)
            await world.trader(ngwee=400_000)
        return world, await world.band(CLUSTER)
    finally:
        await world.platform.close()


async def test_orders_survive_sigkilled_clients_placed_and_filled_once(
    database_url: str, tmp_path: Path, report: Report
) -> None:
    clock = ShiftedClock(SystemClock().now_us() - START_US)
    world, (floor, cap) = await seed(database_url, clock)
    total = WORKERS * ORDERS

    def argv(w: int, first: int) -> list[str]:
        return [sys.executable, "-m", "tests.drills.market_worker", database_url, str(w), str(first), str(ORDERS),
                str(clock.shift_us), str(LOSE_EVERY)]  # fmt: skip

    def restart(w: int, answers: Answers) -> None:
        workers[w].argv = argv(w, restart_from(answers.last.get(w, -1)))
        workers[w].spawn()

    async def wait_until(enough: Callable[[Answers], bool]) -> None:
        """Until ``enough``; a client that died on its own (a lost answer) is started again meanwhile."""
        while not enough(answers := read_answers(workers)):
            assert time.monotonic() < deadline, [w.log() for w in workers]
            for w, worker in enumerate(workers):
                if not worker.running and worker.returncode != 0:
                    assert worker.returncode == -signal.SIGKILL, worker.log()
                    lost.append(w)
                    restart(w, answers)
            await asyncio.sleep(0.02)

    workers = [
        ChildProcess(f"trader-{w}", argv(w, 0), clean_env(), tmp_path / f"trader-{w}.log") for w in range(WORKERS)
    ]
    for worker in workers:
        worker.spawn()
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    kills: list[int] = []
    lost: list[int] = []  # clients that died on their own, after a commit and before its answer
    try:
        for k in range(KILLS):
            target = total * (k + 1) // (KILLS + 1)
            await wait_until(placed_at_least(target))
            for worker in workers:
                await worker.kill()  # SIGKILL wherever it is: mid-order or between two
            answers = read_answers(workers)
            kills.append(answers.placed)
            for w in range(WORKERS):
                restart(w, answers)
        await wait_until(lambda a: a.done == WORKERS)
    finally:
        for worker in workers:
            await worker.stop()
    answers = read_answers(workers)

    store = await open_store(database_url, clock=clock)
    try:
        summary = await check_markets(
            store, users=world.users, clusters=[CLUSTER], funded=world.funded, fee_bps=FEE_BPS,
            now_us=clock.now_us(), swept=False,
        )  # fmt: skip
    finally:
        await store.close()
    replays = sum(1 for answers_ in answers.acks.values() for replayed, _ in answers_ if replayed)
    unheard = sum(1 for a in answers.acks.values() if all(replayed for replayed, _ in a))
    table = [
        ("clients x orders", f"{WORKERS} x {ORDERS} = {total}"),
        ("SIGKILLs", f"{KILLS} rounds x {WORKERS} clients (at {kills} orders answered)"),
        ("SIGKILLs after a commit, unanswered", str(len(lost))),
        ("client starts", str(sum(w.starts for w in workers))),
        ("orders placed", str(len(summary.orders))),
        ("answers: replayed re-sends", str(replays)),
        ("placed but unheard until re-sent", str(unheard)),
        ("refused", str(dict(answers.refused)) if answers.refused else "none"),
        ("fills (trades)", str(len(summary.trades))),
        ("energy traded", f"{summary.traded_wh} Wh"),
        ("orders still resting", str(sum(1 for o in summary.orders if o.state.active))),
    ]
    print("\nmarkets drill:", database_url.split(":")[0])
    for name, value in table:
        print(f"  {name:36} {value}")
    report(
        load=f"{WORKERS} client processes x {ORDERS} crossing orders in one cluster",
        faults=f"SIGKILL of every client x{KILLS} (at {kills} answered) and {len(lost)} right after a commit; "
        f"each restart re-sends from {RESEND} before its last answer",
        result=f"{len(summary.orders)} orders placed once, {len(summary.trades)} fills, {replays} replayed re-sends, "
        f"{unheard} placed but unheard until re-sent; invariants and ledger verify hold",
    )

    assert answers.done == WORKERS
    assert not answers.refused, answers.refused
    assert all(0 < n < total for n in kills), kills  # killed mid-run, both times
    assert 0 < len(lost) <= WORKERS * (ORDERS // LOSE_EVERY)  # fewer if a kill sent a client back over one
    assert unheard >= len(lost)  # each order whose answer died with its client was found placed when re-sent
    ids = {o.id: o for o in summary.orders}
    assert set(ids) == {operation_id(w, k) for w in range(WORKERS) for k in range(ORDERS)}
    for (w, k), heard in answers.acks.items():
        order = ids[operation_id(w, k)]
        assert (order.side, order.wh, order.price) == plan(w, k, floor, cap)
        first = [fills for replayed, fills in heard if not replayed]
        assert len(first) <= 1, (w, k, heard)  # placed once: every later answer is a replay
        taker = [t for t in summary.trades if (t.buy_order_id if t.taker is Side.BUY else t.sell_order_id) == order.id]
        if first:
            assert len(taker) == first[0], (w, k)  # the fills it was told about are the ones it made
    assert summary.trades, "nothing crossed: the drill proves nothing"

    code, output = await run_cli(clean_env({"DATABASE_URL": database_url}), "ledger", "verify")
    assert code == 0, output
