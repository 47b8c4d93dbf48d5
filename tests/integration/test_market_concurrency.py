"""The order book under concurrency on SQLite and PostgreSQL: retries, a cancel racing a fill, many traders at once.

Every change to a cluster's book takes its market lock first, so an order sent
again (at once, later, or after its slot's gate closed) is placed once; a
cancel and a fill of the same order never both happen, nor a cancel and the
slot job's expiry; many traders in one cluster are served one at a time and in
two clusters side by side, without deadlock; a trader's open-order cap holds
across clusters. After each: every invariant of
:mod:`tests.support.market_checks` holds (reservations, trades and their
transfers, wallets, a book never crossed, the ledger verifies).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Coroutine
from typing import Any

import pytest

from engine.identity.model import User
from engine.kernel.clock import MICROS_PER_SECOND, ManualClock
from engine.kernel.errors import IdempotencyConflict
from engine.markets.errors import OrderClosed
from engine.markets.model import Order, OrderState, Side
from engine.markets.orders import Placement
from engine.uow import Database as Store
from tests.conftest import TEST_HASHER
from tests.support.market_world import DEAR_PRICE, MarketWorld

KABWE, CHIPATA = "kabwe-mini", "chipata-solar"
GATE_US = 300 * MICROS_PER_SECOND
SLOT_US = 900 * MICROS_PER_SECOND


@pytest.fixture
async def world(store: Store, clock: ManualClock) -> MarketWorld:
    world = await MarketWorld.open(store, clock, TEST_HASHER, fee_bps=100)
    await world.cluster(KABWE)
    await world.cluster(CHIPATA, price=DEAR_PRICE)
    return world


async def test_an_order_sent_again_and_five_times_at_once_is_placed_and_filled_once(world: MarketWorld) -> None:
    seller, buyer = [await world.trader(ngwee=10_000, wh=10_000) for _ in range(2)]
    # One PIN check per trader: checks at the same moment count as guesses (and lock the PIN).
    selling, buying = await world.proof(seller), await world.proof(buyer)

    def ask() -> Coroutine[Any, Any, Placement]:
        return world.place(seller, KABWE, Side.SELL, 1_000, 250, operation_id="op-ask", proof=selling)

    # The cluster's first order, five times at once: even its market row and escrow are made once.
    asks = await asyncio.gather(*(ask() for _ in range(5)))
    assert sorted(p.replayed for p in asks) == [False, True, True, True, True]
    stored = await world.platform.orders.order_for(seller, "op-ask")
    assert all(p.order == stored for p in asks)
    for _ in range(2):  # and twice more, one after the other
        again = await ask()
        assert (again.replayed, again.order, again.trades) == (True, stored, ())

    # A crossing buy, five times at once: one order, one fill.
    bids = await asyncio.gather(
        *(world.place(buyer, KABWE, Side.BUY, 600, 300, operation_id="op-bid", proof=buying) for _ in range(5))
    )
    assert sorted(p.replayed for p in bids) == [False, True, True, True, True]
    [fill] = [t for p in bids for t in p.trades]
    assert (fill.buy_order_id, fill.sell_order_id, fill.wh, fill.price) == ("op-bid", "op-ask", 600, 250)

    with pytest.raises(IdempotencyConflict):  # the same operation id for another order
        await world.place(buyer, KABWE, Side.BUY, 700, 300, operation_id="op-bid")
    summary = await world.check()
    assert sorted(o.id for o in summary.orders) == ["op-ask", "op-bid"]
    assert [t.id for t in summary.trades] == [fill.id]
    assert await world.available(seller) == (10_000 + 150, 10_000 - 1_000)  # 400 Wh still reserved
    assert await world.available(buyer) == (10_000 - 150 - 2, 10_000 + 600)  # K1.50 and a 1% fee


async def test_an_order_retried_after_its_slot_closed_is_replayed_not_refused(world: MarketWorld) -> None:
    """A client that never heard back retries; meanwhile the slot's gate closed: it gets its order, not an error."""
    seller = await world.trader(wh=5_000)
    slot = world.platform.orders.next_open_slot(world.clock.now_us())
    placed = await world.place(seller, KABWE, Side.SELL, 500, 250, slot_start_us=slot, operation_id="op-late")
    world.manual_clock.set(slot - GATE_US + MICROS_PER_SECOND)
    again = await world.place(seller, KABWE, Side.SELL, 500, 250, slot_start_us=slot, operation_id="op-late")
    assert (again.replayed, again.order) == (True, placed.order)
    await world.check(swept=False)


async def test_a_cancel_racing_a_fill_lets_exactly_one_happen(world: MarketWorld) -> None:
    seller, buyer = [await world.trader(ngwee=20_000, wh=20_000) for _ in range(2)]
    outcomes: Counter[str] = Counter()

    selling, buying = await world.proof(seller), await world.proof(buyer)  # checked before: the race is the book's

    async def cancel(order_id: str) -> Order | OrderClosed:
        try:
            return await world.cancel(seller, order_id, proof=selling)
        except OrderClosed as closed:
            return closed

    for n in range(20):
        ask = await world.place(seller, KABWE, Side.SELL, 500, 250)
        bid_now = world.place(buyer, KABWE, Side.BUY, 500, 300, proof=buying)
        if n % 2:  # either sent first (SQLite then serves them in that order; PostgreSQL as they land)
            bid, cancelled = await asyncio.gather(bid_now, cancel(ask.order.id))
        else:
            cancelled, bid = await asyncio.gather(cancel(ask.order.id), bid_now)
        if isinstance(cancelled, OrderClosed):  # the fill came first: all of it, and the cancel was refused
            assert cancelled.params["state"] == "filled"
            assert [(t.sell_order_id, t.wh) for t in bid.trades] == [(ask.order.id, 500)]
            assert bid.order.state is OrderState.FILLED
            outcomes["filled"] += 1
        else:  # the cancel came first: nothing filled, the buy rests
            assert (cancelled.state, cancelled.remaining_wh, cancelled.fills) == (OrderState.CANCELLED, 500, 0)
            assert (bid.trades, bid.order.state) == ((), OrderState.OPEN)
            await world.cancel(buyer, bid.order.id)
            outcomes["cancelled"] += 1
        await world.check()
    assert outcomes.total() == 20, outcomes
    summary = await world.check()
    assert summary.traded_wh == 500 * outcomes["filled"]


async def test_the_slot_job_racing_cancels_closes_each_order_once(world: MarketWorld) -> None:
    traders = [await world.trader(ngwee=20_000, wh=20_000) for _ in range(4)]
    placed = [
        (t, await world.place(t, KABWE, side, 300 + 100 * i, 200 if side is Side.BUY else 300))
        for i, t in enumerate(traders)
        for side in Side
    ]
    world.manual_clock.advance(2 * SLOT_US / MICROS_PER_SECOND)  # every order's slot is over

    proofs = {t.id: await world.proof(t) for t in traders}

    async def cancel(owner: User, placement: Placement) -> str:
        try:
            return str((await world.cancel(owner, placement.order.id, proof=proofs[owner.id])).state)
        except OrderClosed as closed:
            return str(closed.params["state"])

    report, outcomes = await asyncio.gather(
        world.run_jobs(), asyncio.gather(*(cancel(owner, p) for owner, p in placed))
    )
    assert (report.failed, report.dead) == (0, 0)
    summary = await world.check()
    states = {o.id: o.state for o in summary.orders}
    for (_, placement), outcome in zip(placed, outcomes, strict=True):
        assert str(states[placement.order.id]) == outcome  # what the owner was told is what happened
    assert summary.count(OrderState.CANCELLED) + summary.count(OrderState.EXPIRED) == len(placed)


@pytest.mark.parametrize("spread", [1, 2], ids=["one-cluster", "two-clusters"])
async def test_many_traders_at_once_trade_every_wh_once(world: MarketWorld, spread: int) -> None:
    rng = random.Random(13)
    traders = [await world.trader(ngwee=50_000, wh=20_000) for _ in range(12)]
    bands = {c: await world.band(c) for c in world.clusters}
    orders = []
    for i, trader in enumerate(traders):
        for k in range(5):  # each trader buys and sells, in both clusters when there are two
            cluster = world.clusters[(i + k) % spread]
            floor, cap = bands[cluster]
            price = floor + (cap - floor) * rng.randint(30, 70) // 100
            side = rng.choice([Side.BUY, Side.SELL])
            orders.append((trader, cluster, side, rng.choice([100, 300, 500, 1_000, 1_500]), price))
    proofs = {t.id: await world.proof(t) for t in traders}
    placements = await asyncio.gather(*(world.place(*order, proof=proofs[order[0].id]) for order in orders))
    assert not any(p.replayed for p in placements)
    summary = await world.check()  # numbered without gaps or repeats per cluster: one at a time
    assert sorted(o.id for o in summary.orders) == sorted(p.order.id for p in placements)
    made = {t.id: t for p in placements for t in p.trades}  # every fill is some arriving order's
    assert made == {t.id: t for t in summary.trades}
    assert {t.cluster_id for t in summary.trades} <= set(world.clusters[:spread])
    assert summary.trades, "nothing crossed: the test proves nothing"


async def test_a_trader_at_the_open_order_cap_gets_no_more_by_placing_in_two_clusters_at_once(
    world: MarketWorld,
) -> None:
    """Nine open orders, then one in each cluster at the same moment: one is placed, the other refused."""
    trader = await world.trader(ngwee=100_000, wh=100_000)
    proof = await world.proof(trader)
    floors = {c: (await world.band(c))[0] for c in (KABWE, CHIPATA)}
    for n in range(5):
        for _ in range(9 - await world.platform.orders.count_active(trader)):
            await world.place(trader, KABWE, Side.SELL, 100, 370, proof=proof)
        outcomes = await asyncio.gather(
            *(world.place(trader, c, Side.BUY, 100, floors[c], proof=proof) for c in (KABWE, CHIPATA)),
            return_exceptions=True,
        )
        assert await world.platform.orders.count_active(trader) <= 10, (n, outcomes)
        assert sorted(type(o).__name__ for o in outcomes) == ["Placement", "TooManyOpenOrders"], outcomes
        for order in await world.platform.orders.my_orders(trader, limit=20):
            if order.side is Side.BUY:
                await world.cancel(trader, order.id, proof=proof)
    await world.check()
