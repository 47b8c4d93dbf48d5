"""Hypothesis trades in two clusters' books through the real ledger, on SQLite and PostgreSQL.

Four traders with money and energy place buys and sells at random prices in
the cluster's band, for the next slot, a later one or the rest of the day;
retry placements with the same operation id; cancel their own orders (and try
others' and closed ones); and let time pass while the slot jobs expire what is
due. Self-trades happen as they come. After every step every invariant of
:mod:`tests.support.market_checks` holds: the ledger balances, escrow holds
nothing posted and exactly the live reservations pending, every order is the
sum of its trades, every trade has its transfers, every wallet is its funding
plus its trades, nothing is crossed, and the ledger verifies.

The examples below the machine pin the cases it found.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from engine.kernel.clock import MICROS_PER_SECOND, ManualClock
from engine.kernel.errors import EnerlectraError, InsufficientEnergy, InsufficientFunds
from engine.kernel.local_time import next_local_midnight_us
from engine.markets.errors import OrderClosed, OrderNotFound, TooManyOpenOrders
from engine.markets.matching import buy_reservation
from engine.markets.model import Order, OrderState, Side
from engine.uow import Database as Store
from storage import open_store
from tests.conftest import TEST_HASHER
from tests.support.market_world import CONFIG, DEAR_PRICE, MarketWorld
from tests.support.postgres import PostgresDatabases

T = TypeVar("T")
FEE_BPS = 150
TRADERS = 4
SLOT_S = 900
MOST_OPEN = 10
# Round sizes and ones a Wh either side, where a fill can leave less than a ngwee of value behind.
SIZES = st.one_of(st.sampled_from([100, 101, 500, 999, 1_000, 1_001, 1_999, 2_000]), st.integers(100, 2_500))
WHEN = st.sampled_from(["next", "next", "later", "day"])
# Prices in percent of the band: a few levels often, so orders meet at equal prices too.
LEVELS = st.one_of(st.sampled_from([40, 50, 60]), st.integers(0, 100))


def market_machine(open_url: Callable[[], Awaitable[str]]) -> type[RuleBasedStateMachine]:
    class MarketMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.loop = asyncio.new_event_loop()
            self.clock = ManualClock()
            self.store: Store = self.run(self._open(open_url))
            self.world = self.run(MarketWorld.open(self.store, self.clock, TEST_HASHER, fee_bps=FEE_BPS))
            self.run(self.world.cluster("kabwe-mini"))
            self.run(self.world.cluster("chipata-solar", price=DEAR_PRICE))
            for _ in range(TRADERS):
                self.run(self.world.trader(ngwee=4_000, wh=4_000))
            self.sent: dict[str, tuple[int, str, Side, int, int, int | None, bool]] = {}

        def run(self, coro: Awaitable[T]) -> T:
            return self.loop.run_until_complete(coro)

        async def _open(self, open_url: Callable[[], Awaitable[str]]) -> Store:
            return await open_store(await open_url(), clock=self.clock, max_batch=CONFIG.max_batch)

        def orders(self) -> list[Order]:
            return self.run(self.world.check(swept=True)).orders

        def timing(self, when: str) -> tuple[int | None, bool]:
            if when == "day":
                return None, True
            if when == "next":
                return None, False
            first = self.world.platform.orders.next_open_slot(self.clock.now_us())
            later = first + SLOT_S * MICROS_PER_SECOND
            if later >= next_local_midnight_us(first, CONFIG.local_utc_offset_s):
                return None, False
            return later, False

        @rule(
            who=st.integers(0, TRADERS - 1),
            cluster=st.integers(0, 1),
            side=st.sampled_from(Side),
            wh=SIZES,
            at=LEVELS,
            when=WHEN,
        )
        def place(self, who: int, cluster: int, side: Side, wh: int, at: int, when: str) -> None:
            user, cluster_id = self.world.users[who], self.world.clusters[cluster]
            floor, cap = self.run(self.world.band(cluster_id))
            price = floor + (cap - floor) * at // 100
            slot, day = self.timing(when)
            ngwee, energy = self.run(self.world.available(user))
            expected: type[EnerlectraError] | None = None
            if self.run(self.world.platform.orders.count_active(user)) >= MOST_OPEN:
                expected = TooManyOpenOrders
            elif side is Side.BUY and buy_reservation(wh, price, FEE_BPS) > ngwee:
                expected = InsufficientFunds
            elif side is Side.SELL and wh > energy:
                expected = InsufficientEnergy
            op = f"op-{len(self.sent)}-{self.clock.now_us()}"
            refused: type[EnerlectraError] | None = None
            try:
                placement = self.run(
                    self.world.place(user, cluster_id, side, wh, price, slot_start_us=slot, good_for_day=day,
                                     operation_id=op)
                )  # fmt: skip
            except (TooManyOpenOrders, InsufficientFunds, InsufficientEnergy) as error:
                refused = type(error)
            assert refused is expected  # refused exactly when the trader is short or has too many orders
            if refused is not None:
                event(f"place: refused, {refused.code}")
                return
            order = placement.order
            event(f"place: {order.state}{', self-trade' if placement.self_trade else ''}")
            assert (order.id, order.side, order.wh, order.price, placement.replayed) == (op, side, wh, price, False)
            assert all(t.taker is side for t in placement.trades)
            assert order.filled_wh == sum(t.wh for t in placement.trades)
            if placement.self_trade:
                assert order.state in (OrderState.REJECTED, OrderState.CANCELLED)
            self.sent[op] = (who, cluster_id, side, wh, price, slot, day)

        @precondition(lambda self: bool(self.sent))
        @rule(data=st.data())
        def retry(self, data: st.DataObject) -> None:
            """A client that never heard back sends the same order again: it gets the order, nothing moves."""
            op = data.draw(st.sampled_from(sorted(self.sent)))
            who, cluster_id, side, wh, price, slot, day = self.sent[op]
            before = self.run(self.store.markets.order_by_id(op))
            length = self.run(self.world.platform.ledger_length())
            placement = self.run(
                self.world.place(self.world.users[who], cluster_id, side, wh, price, slot_start_us=slot,
                                 good_for_day=day, operation_id=op)
            )  # fmt: skip
            assert (placement.replayed, placement.order, placement.trades) == (True, before, ())
            assert self.run(self.world.platform.ledger_length()) == length

        @rule(data=st.data(), stranger=st.booleans(), again=st.booleans())
        def cancel(self, data: st.DataObject, stranger: bool, again: bool) -> None:
            active = sorted((o for o in self.orders() if o.state.active), key=lambda o: o.id)
            if not active:
                return
            order = data.draw(st.sampled_from(active))
            owner = next(u for u in self.world.users if u.id == order.user_id)
            if stranger:
                other = next(u for u in self.world.users if u.id != order.user_id)
                with pytest.raises(OrderNotFound):
                    self.run(self.world.cancel(other, order.id))
            ngwee, energy = self.run(self.world.available(owner))
            closed = self.run(self.world.cancel(owner, order.id))
            assert (closed.state, closed.reason, closed.reserved) == (OrderState.CANCELLED, "user", 0)
            assert (closed.remaining_wh, closed.fills) == (order.remaining_wh, order.fills)
            back = (order.reserved, 0) if order.side is Side.BUY else (0, order.reserved)
            assert self.run(self.world.available(owner)) == (ngwee + back[0], energy + back[1])
            if again:  # a repeated cancel gets the cancelled order back
                assert self.run(self.world.cancel(owner, order.id)) == closed

        @rule(data=st.data())
        def cancel_closed(self, data: st.DataObject) -> None:
            closed = sorted((o for o in self.orders() if not o.state.active and o.reason != "user"), key=lambda o: o.id)
            if not closed:
                return
            order = data.draw(st.sampled_from(closed))
            owner = next(u for u in self.world.users if u.id == order.user_id)
            with pytest.raises(OrderClosed) as refused:
                self.run(self.world.cancel(owner, order.id))
            assert refused.value.params["state"] == str(order.state)

        @rule(seconds=st.sampled_from([60, 300, 600, 900, 1_800, 3 * 3_600]))
        def wait(self, seconds: int) -> None:
            report = self.run(self.world.wait(seconds))
            assert (report.failed, report.dead) == (0, 0), report
            expired = self.run(self.world.check()).count(OrderState.EXPIRED)
            event(f"orders expired by then: {'some' if expired else 'none'}")

        @invariant()
        def book_and_ledger_agree(self) -> None:
            self.run(self.world.check(swept=True))

        def teardown(self) -> None:
            self.run(self.store.close())
            self.loop.close()

    return MarketMachine


def test_book_and_ledger_agree_after_every_step(
    backend: str, tmp_path: Path, postgres_databases: PostgresDatabases
) -> None:
    counter = iter(range(10**6))

    async def open_url() -> str:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path}/market-{next(counter)}.db"
            store = await open_store(url, migrate=True)
            await store.close()
            return url
        return await postgres_databases.create()

    run_state_machine_as_test(
        market_machine(open_url),
        settings=settings(
            max_examples=12 if backend == "sqlite" else 8,
            stateful_step_count=40,
            deadline=None,
            report_multiple_bugs=False,  # shrink the first failure found, within the test's time
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


# --- cases the machine found ----------------------------------------------------------------------------------


@pytest.fixture
async def world(store: Store, clock: ManualClock) -> MarketWorld:
    world = await MarketWorld.open(store, clock, TEST_HASHER)
    await world.cluster("kabwe-mini")
    return world


@pytest.mark.parametrize("end", ["cancel", "fill", "expire"])
async def test_a_buy_with_less_than_a_ngwee_left_to_reserve_still_ends_cleanly(world: MarketWorld, end: str) -> None:
    """A bid of K2.50/kWh for 1,000 Wh reserves 250 ngwee; 999 Wh filled at its price cost all 250.

    The last Wh costs nothing more (the order's money is its value rounded up once), so
    nothing is left to reserve for it; cancelling, filling or expiring the order must still work.
    """
    seller, buyer, other = [await world.trader(ngwee=10_000, wh=5_000) for _ in range(3)]
    await world.place(seller, "kabwe-mini", Side.SELL, 999, 250)
    bid = await world.place(buyer, "kabwe-mini", Side.BUY, 1_000, 250)
    assert (bid.order.state, bid.order.remaining_wh, bid.order.reserved) == (OrderState.PARTIAL, 1, 0)
    await world.check()
    if end == "cancel":
        closed = await world.cancel(buyer, bid.order.id)
        assert (closed.state, closed.remaining_wh) == (OrderState.CANCELLED, 1)
    elif end == "fill":
        ask = await world.place(other, "kabwe-mini", Side.SELL, 100, 200)
        assert [(t.wh, t.price, t.buyer_paid_ngwee) for t in ask.trades] == [(1, 250, 0)]
        assert (await world.platform.orders.order_for(buyer, bid.order.id)).state is OrderState.FILLED
    else:
        report = await world.wait(2 * SLOT_S)
        assert (report.failed, report.dead) == (0, 0)
        assert (await world.platform.orders.order_for(buyer, bid.order.id)).state is OrderState.EXPIRED
    await world.check()
    assert await world.available(buyer) == (10_000 - 250, 5_000 + 999 + (1 if end == "fill" else 0))


@pytest.mark.parametrize("taker", [Side.BUY, Side.SELL])
async def test_an_order_sweeping_pages_of_the_book_fills_in_price_then_time_order(
    world: MarketWorld, taker: Side
) -> None:
    """Forty resting orders on four price levels, placed in mixed order; one order takes 35 of them at once."""
    makers = [await world.trader(ngwee=20_000, wh=20_000) for _ in range(4)]
    sweeper = await world.trader(ngwee=50_000, wh=50_000)
    resting = taker.opposite
    levels = [200, 230, 260, 290]
    placed = []
    for n in range(40):
        price = levels[(n * 3) % 4]
        placed.append((await world.place(makers[n % 4], "kabwe-mini", resting, 100 + n, price)).order)
    best_first = sorted(placed, key=lambda o: (o.price if resting is Side.SELL else -o.price, o.seq))
    wanted = sum(o.wh for o in best_first[:35]) - 50  # the 35th fills partly
    limit = 375 if taker is Side.BUY else 187
    sweep = await world.place(sweeper, "kabwe-mini", taker, wanted, limit)
    assert [(t.wh, t.price) for t in sweep.trades] == [
        *((o.wh, o.price) for o in best_first[:34]),
        (best_first[34].wh - 50, best_first[34].price),
    ]
    assert sweep.order.state is OrderState.FILLED
    summary = await world.check()
    assert summary.count(OrderState.FILLED) == 35
    assert summary.count(OrderState.PARTIAL) == 1
