"""The market's order book on every backend: orders, priority, pages, expiry, depth, trades and the market lock.

Run on SQLite, PostgreSQL and the in-memory database, so the fake the
service tests use answers like the real ones: what an order reads back as,
which orders a match sees and in what order (best price, then arrival; the
slot and gate closure filters; pages after a (price, seq)), what an update
stores, the expiry sweep, the depth and open interest a screen shows, trades
newest first, the lock every book change takes, and that a unit of work that
raises leaves nothing behind. Price history, quotes, tariffs and notices are
in test_market_history_store.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from engine.markets.model import MarketState, Order, OrderState, Side
from engine.uow import Database as Store
from engine.uow import Repositories
from tests.conftest import StoreOpener
from tests.integration.conftest import ALL_BACKENDS
from tests.support.markets import (
    CHIPATA,
    GATE,
    KABWE,
    REFUSED,
    SLOT,
    T0,
    ids,
    make_order,
    make_trade,
    open_market,
    place,
    record_trades,
)

pytestmark = ALL_BACKENDS

SLOT_A = T0 + 4 * SLOT  # 01:00, matched until 00:55
SLOT_B = T0 + 5 * SLOT  # 01:15
NOW = T0 + 30 * 60 * 1_000_000  # 00:30: both slots' gates are open


async def best(
    store: Store,
    side: Side,
    *,
    now: int = NOW,
    slot: int | None = None,
    limit: int = 10,
    after: tuple[int, int] | None = None,
    cluster_id: str = KABWE,
) -> list[str]:
    found = await store.markets.best_orders(cluster_id, side, now_us=now, slot_start_us=slot, limit=limit, after=after)
    return ids(found)


async def test_an_order_reads_back_whole_and_is_placed_once(store: Store) -> None:
    market = await open_market(store)
    order = replace(make_order(1, market.user(0), Side.SELL, 245, 1_500, good_for_day=True), reason="")
    assert await place(store, order) == [True]
    assert await store.markets.order_by_id(order.id) == order
    stored = await store.markets.order_by_id(order.id)
    assert stored is not None
    assert (stored.side, stored.state, stored.good_for_day) == (Side.SELL, OrderState.OPEN, True)
    # The same operation placing it again (a retry) changes nothing.
    assert await place(store, replace(order, price=300)) == [False]
    assert await store.markets.order_by_id(order.id) == order
    assert await store.markets.order_by_id("op-never-placed") is None


async def test_sells_come_cheapest_first_and_buys_dearest_first_then_by_arrival(store: Store) -> None:
    market = await open_market(store)
    alice, bwalya = market.user(0), market.user(1)
    await place(
        store,
        make_order(1, alice, Side.SELL, 260),
        make_order(2, alice, Side.SELL, 245),
        make_order(3, bwalya, Side.BUY, 230),
        make_order(4, bwalya, Side.SELL, 245),  # same price as 2, arrived later
        make_order(5, alice, Side.BUY, 238),
        make_order(6, bwalya, Side.BUY, 238),  # same price as 5, arrived later
        make_order(7, alice, Side.SELL, 251),
    )
    sells = await best(store, Side.SELL)
    assert sells == ["op-kabwe-mini-2", "op-kabwe-mini-4", "op-kabwe-mini-7", "op-kabwe-mini-1"]
    buys = await best(store, Side.BUY)
    assert buys == ["op-kabwe-mini-5", "op-kabwe-mini-6", "op-kabwe-mini-3"]
    assert await best(store, Side.SELL, limit=2) == sells[:2]
    assert await best(store, Side.SELL, cluster_id=CHIPATA) == []


async def test_the_book_holds_only_resting_orders_until_their_gate_closes(store: Store) -> None:
    market = await open_market(store)
    u = market.user(0)
    await place(
        store,
        make_order(1, u, Side.SELL, 240),
        make_order(2, u, Side.SELL, 241, state=OrderState.FILLED),
        make_order(3, u, Side.SELL, 242, state=OrderState.CANCELLED),
        make_order(4, u, Side.SELL, 243, state=OrderState.PARTIAL),
        make_order(5, u, Side.SELL, 244, state=OrderState.EXPIRED),
        make_order(6, u, Side.SELL, 245, state=OrderState.REJECTED),
        make_order(7, u, Side.SELL, 246, slot=SLOT_B),  # a later slot: its gate closes later
        make_order(1, u, Side.SELL, 200, cluster_id=CHIPATA),
    )
    assert await best(store, Side.SELL) == ["op-kabwe-mini-1", "op-kabwe-mini-4", "op-kabwe-mini-7"]
    gate_a = SLOT_A - GATE
    # Tradeable while now < trade_until: at the gate closure itself slot A's orders are out.
    assert await best(store, Side.SELL, now=gate_a - 1) == ["op-kabwe-mini-1", "op-kabwe-mini-4", "op-kabwe-mini-7"]
    assert await best(store, Side.SELL, now=gate_a) == ["op-kabwe-mini-7"]
    assert await best(store, Side.BUY) == []


async def test_a_slot_sees_its_own_orders_and_good_for_day_ones_already_started(store: Store) -> None:
    market = await open_market(store)
    u = market.user(0)
    day_end = T0 + 24 * 3600 * 1_000_000
    await place(
        store,
        make_order(1, u, Side.BUY, 250, slot=SLOT_A),
        make_order(2, u, Side.BUY, 250, slot=SLOT_B),
        make_order(3, u, Side.BUY, 260, slot=SLOT_A, good_for_day=True, trade_until=day_end, expires_at=day_end),
        make_order(4, u, Side.BUY, 270, slot=SLOT_B + SLOT, good_for_day=True, trade_until=day_end, expires_at=day_end),
    )
    assert await best(store, Side.BUY, slot=SLOT_A) == ["op-kabwe-mini-3", "op-kabwe-mini-1"]
    # Slot B: its own order and the good-for-day one that started at A, not the one starting after B.
    assert await best(store, Side.BUY, slot=SLOT_B) == ["op-kabwe-mini-3", "op-kabwe-mini-2"]
    assert await best(store, Side.BUY, slot=SLOT_B + SLOT) == ["op-kabwe-mini-4", "op-kabwe-mini-3"]
    assert await best(store, Side.BUY, slot=None) == [
        "op-kabwe-mini-4",
        "op-kabwe-mini-3",
        "op-kabwe-mini-1",
        "op-kabwe-mini-2",
    ]


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
async def test_pages_follow_on_after_the_last_price_and_seq(store: Store, side: Side) -> None:
    market = await open_market(store)
    prices = [250, 240, 250, 260, 240, 250, 245, 260, 240]
    await place(store, *(make_order(n, market.user(n % 2), side, p) for n, p in enumerate(prices, 1)))
    whole = await store.markets.best_orders(KABWE, side, now_us=NOW, slot_start_us=SLOT_A, limit=20)
    assert len(whole) == 9
    pages: list[Order] = []
    after: tuple[int, int] | None = None
    while True:
        page = await store.markets.best_orders(KABWE, side, now_us=NOW, slot_start_us=SLOT_A, limit=4, after=after)
        if not page:
            break
        pages.extend(page)
        after = (page[-1].price, page[-1].seq)
    assert ids(pages) == ids(whole)
    dearest = [(260, 4), (260, 8), (250, 1), (250, 3), (250, 6), (245, 7), (240, 2), (240, 5), (240, 9)]
    cheapest = [(240, 2), (240, 5), (240, 9), (245, 7), (250, 1), (250, 3), (250, 6), (260, 4), (260, 8)]
    assert [(o.price, o.seq) for o in whole] == (dearest if side is Side.BUY else cheapest)
    # A page starts strictly after its mark, inside a price level too.
    rest = await store.markets.best_orders(KABWE, side, now_us=NOW, slot_start_us=SLOT_A, limit=3, after=(250, 3))
    assert [(o.price, o.seq) for o in rest] == (
        [(250, 6), (245, 7), (240, 2)] if side is Side.BUY else [(250, 6), (260, 4), (260, 8)]
    )


async def test_an_update_stores_the_fill_and_nothing_the_order_was_placed_with(store: Store) -> None:
    market = await open_market(store)
    placed = make_order(1, market.user(0), Side.BUY, 250, 2_000)
    await place(store, placed)
    filled = replace(
        placed,
        remaining_wh=500,
        state=OrderState.PARTIAL,
        fills=2,
        filled_value=1_500 * 245,
        fees_ngwee=4,
        reserved=125,
        reason="",
        updated_at_us=T0 + 90 * 1_000_000,
    )
    # The placing fields are fixed: an update carrying other ones does not move them.
    await store.atomic(lambda r: r.markets.update_order(replace(filled, price=999, user_id=market.user(1), seq=77)))
    assert await store.markets.order_by_id(placed.id) == filled
    cancelled = replace(filled, state=OrderState.CANCELLED, reserved=0, reason="self-trade", updated_at_us=T0 + 91)
    await store.atomic(lambda r: r.markets.update_order(cancelled))
    assert await store.markets.order_by_id(placed.id) == cancelled
    assert await best(store, Side.BUY) == []


async def test_expiry_hands_out_active_orders_past_their_end_oldest_first(store: Store) -> None:
    market = await open_market(store)
    u = market.user(0)
    await place(
        store,
        make_order(1, u, Side.SELL, 250, expires_at=SLOT_B),
        make_order(2, u, Side.BUY, 240, expires_at=SLOT_A + 10),
        make_order(3, u, Side.SELL, 250, expires_at=SLOT_A, state=OrderState.PARTIAL),
        make_order(4, u, Side.SELL, 250, expires_at=SLOT_A, state=OrderState.FILLED),
        make_order(5, u, Side.SELL, 250, expires_at=SLOT_A + 10),
        make_order(6, u, Side.SELL, 250, expires_at=SLOT_A - 1, cluster_id=CHIPATA),
    )

    async def due(now: int, limit: int = 10) -> list[str]:
        return ids(await store.atomic(lambda r: r.markets.due_expiries(KABWE, now_us=now, limit=limit)))

    assert await due(SLOT_A - 1) == []
    assert await due(SLOT_A) == ["op-kabwe-mini-3"]  # at its end exactly
    assert await due(SLOT_A + 10) == ["op-kabwe-mini-3", "op-kabwe-mini-2", "op-kabwe-mini-5"]
    assert await due(SLOT_B, limit=2) == ["op-kabwe-mini-3", "op-kabwe-mini-2"]


async def test_depth_sums_each_price_level_and_open_interest_each_side(store: Store) -> None:
    market = await open_market(store)
    a, b = market.user(0), market.user(1)
    await place(
        store,
        make_order(1, a, Side.SELL, 245, 1_000),
        make_order(2, b, Side.SELL, 245, 2_500),
        make_order(3, a, Side.SELL, 250, 700),
        make_order(4, b, Side.SELL, 262, 300),
        make_order(5, a, Side.BUY, 240, 1_200),
        make_order(6, b, Side.BUY, 238, 400),
        make_order(7, b, Side.BUY, 240, 800, state=OrderState.CANCELLED),
        make_order(8, b, Side.SELL, 230, 5_000, slot=SLOT_A - SLOT, trade_until=NOW),  # gate closed
    )
    partial = await store.markets.order_by_id("op-kabwe-mini-2")
    assert partial is not None
    await store.atomic(lambda r: r.markets.update_order(replace(partial, remaining_wh=1_500, state=OrderState.PARTIAL)))
    sells = await store.markets.depth(KABWE, Side.SELL, now_us=NOW, levels=5)
    assert sells == [(245, 2_500, 2), (250, 700, 1), (262, 300, 1)]
    assert await store.markets.depth(KABWE, Side.SELL, now_us=NOW, levels=2) == sells[:2]
    assert await store.markets.depth(KABWE, Side.BUY, now_us=NOW, levels=5) == [(240, 1_200, 1), (238, 400, 1)]
    assert await store.markets.open_interest(KABWE, now_us=NOW) == (1_600, 3_500)
    assert await store.markets.open_interest(CHIPATA, now_us=NOW) == (0, 0)
    assert await store.markets.depth(CHIPATA, Side.BUY, now_us=NOW, levels=5) == []


async def test_a_users_orders_newest_first_by_state_and_their_active_count(store: Store) -> None:
    market = await open_market(store)
    u, other = market.user(0), market.user(1)
    await place(
        store,
        make_order(1, u, Side.SELL, 250),
        make_order(2, u, Side.BUY, 240, state=OrderState.FILLED),
        make_order(3, other, Side.BUY, 240),
        make_order(1, u, Side.BUY, 230, cluster_id=CHIPATA, created_at=T0 + 3_500_000),  # after seq 3, before 4
        make_order(4, u, Side.SELL, 255, state=OrderState.PARTIAL),
    )
    newest_first = ["op-kabwe-mini-4", "op-chipata-solar-1", "op-kabwe-mini-2", "op-kabwe-mini-1"]
    assert ids(await store.markets.orders_for_user(u)) == newest_first
    assert ids(await store.markets.orders_for_user(u, limit=2, offset=1)) == newest_first[1:3]
    active = await store.markets.orders_for_user(u, states=[OrderState.OPEN, OrderState.PARTIAL])
    assert ids(active) == ["op-kabwe-mini-4", "op-chipata-solar-1", "op-kabwe-mini-1"]
    assert ids(await store.markets.orders_for_user(u, states=[OrderState.FILLED])) == ["op-kabwe-mini-2"]
    assert await store.markets.count_active_orders(u) == 3  # in both clusters
    assert await store.markets.count_active_orders(other) == 1
    assert await store.markets.orders_for_user(market.user(3)) == []


async def test_trades_read_newest_first_by_cluster_and_by_user(store: Store) -> None:
    market = await open_market(store)
    a, b, c = market.user(0), market.user(1), market.user(2)
    trades = [
        make_trade(1, a, b, 245, 500),
        make_trade(2, b, a, 250, 300),
        make_trade(3, c, b, 250, 1_000),
        make_trade(1, a, c, 210, 800, cluster_id=CHIPATA, at=T0 + 25 * 1_000_000),
        make_trade(4, a, c, 252, 200),
    ]
    await record_trades(store, *trades)
    kabwe = await store.markets.trades(KABWE)
    assert [t.seq for t in kabwe] == [4, 3, 2, 1]
    assert kabwe[-1] == trades[0]
    assert [t.seq for t in await store.markets.trades(KABWE, limit=2)] == [4, 3]
    assert [t.seq for t in await store.markets.trades(KABWE, before_seq=3)] == [2, 1]
    assert [t.id for t in await store.markets.trades_for_user(a)] == [
        "chipata-solar:t1", "kabwe-mini:t4", "kabwe-mini:t2", "kabwe-mini:t1",
    ]  # fmt: skip
    assert [t.id for t in await store.markets.trades_for_user(b, limit=2)] == ["kabwe-mini:t3", "kabwe-mini:t2"]
    assert await store.markets.trades_for_user(market.user(3)) == []
    with pytest.raises(REFUSED):  # a trade number is taken once per cluster
        await record_trades(store, replace(trades[0], id="kabwe-mini:t1-again"))


async def test_the_market_row_is_made_by_its_first_lock_and_keeps_what_was_saved(store: Store) -> None:
    await open_market(store)
    assert await store.atomic(lambda r: r.markets.lock_market(KABWE)) == MarketState(KABWE, 1, 1)

    async def take_numbers(r: Repositories) -> MarketState:
        state = await r.markets.lock_market(KABWE)
        await r.markets.save_market(replace(state, next_order_seq=state.next_order_seq + 3, next_trade_seq=2))
        return await r.markets.lock_market(KABWE)  # locking again inside one transaction is harmless

    assert await store.atomic(take_numbers) == MarketState(KABWE, 4, 2)
    assert await store.atomic(lambda r: r.markets.lock_market(KABWE)) == MarketState(KABWE, 4, 2)
    assert await store.atomic(lambda r: r.markets.lock_market(CHIPATA)) == MarketState(CHIPATA, 1, 1)
    with pytest.raises(REFUSED):  # a market is a cluster's
        await store.atomic(lambda r: r.markets.lock_market("no-such-cluster"))


async def test_two_writers_of_one_book_take_turns_on_the_market_lock(
    store: Store, open_test_store: StoreOpener
) -> None:
    market = await open_market(store)
    other = await open_test_store()  # another process

    async def place_next(db: Store, user_id: int) -> None:
        async def work(r: Repositories) -> None:
            state = await r.markets.lock_market(KABWE)
            await asyncio.sleep(0.05)  # the other writer arrives while this one holds the lock
            await r.markets.insert_order(make_order(state.next_order_seq, user_id, Side.SELL, 250))
            await r.markets.save_market(replace(state, next_order_seq=state.next_order_seq + 1))

        await db.atomic(work)

    await asyncio.gather(place_next(store, market.user(0)), place_next(other, market.user(1)))
    placed = await store.markets.best_orders(KABWE, Side.SELL, now_us=NOW, slot_start_us=None, limit=5)
    assert sorted((o.seq, o.user_id) for o in placed) in (
        [(1, market.user(0)), (2, market.user(1))],
        [(1, market.user(1)), (2, market.user(0))],
    )
    assert await store.atomic(lambda r: r.markets.lock_market(KABWE)) == MarketState(KABWE, 3, 1)


async def test_the_schema_refuses_a_broken_order(store: Store) -> None:
    market = await open_market(store)
    u = market.user(0)
    await place(store, make_order(1, u, Side.SELL, 250))
    for broken in [
        replace(make_order(1, u, Side.BUY, 240), id="op-same-seq"),  # its cluster's seq 1 is taken
        replace(make_order(2, u, Side.SELL, 250), remaining_wh=1_001),  # more left than ordered
        make_order(3, u, Side.SELL, 0),
        make_order(4, 9_999, Side.SELL, 250),  # nobody
        make_order(5, u, Side.SELL, 250, cluster_id="no-such-cluster"),
    ]:
        with pytest.raises(REFUSED):
            await place(store, broken)
    assert ids(await store.markets.orders_for_user(u)) == ["op-kabwe-mini-1"]
