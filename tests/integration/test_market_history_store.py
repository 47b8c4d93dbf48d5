"""The market's price history, quotes, tariffs, monthly energy and fill notices on every backend.

Run on SQLite, PostgreSQL and the in-memory database, so the fake the
service tests use answers like the real ones: a slot's price posted once and
its OHLC and volume as trades come, history ranges, a quote paid by one
operation only, the tariff in force at a time, a month's energy added up,
fill notices folded once told, that a unit of work that raises leaves none
of it behind, and (on the SQL backends) that the book is read down its
index with 100,000 orders resting.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import asyncpg
import pytest

from engine.markets.model import (
    FillNotice,
    MarketState,
    MonthlyEnergy,
    OrderState,
    Quote,
    Side,
    SlotPrice,
    Tariff,
    TouPeriod,
)
from engine.uow import Database as Store
from engine.uow import Repositories
from storage.repositories.markets import BEST_ORDERS
from storage.sqlite import sqlite_path
from tests.integration.conftest import ALL_BACKENDS
from tests.support.markets import (
    CHIPATA,
    KABWE,
    REFUSED,
    SLOT,
    T0,
    make_order,
    make_trade,
    open_market,
    place,
    record_trades,
)

pytestmark = ALL_BACKENDS

DAY = 24 * 3600 * 1_000_000
EXPLAINED = {"tariff": 250, "time_of_use": 13_000, "utilisation_bps": 1_200, "imbalance_bps": -300, "smoothed": 271}


def posted(slot: int, price: int, cluster_id: str = KABWE) -> SlotPrice:
    return SlotPrice(cluster_id, slot, price, dict(EXPLAINED))


async def post(store: Store, *prices: SlotPrice) -> list[bool]:
    async def work(r: Repositories) -> list[bool]:
        return [await r.markets.insert_slot_price(p) for p in prices]

    return await store.atomic(work)


async def trade_in(store: Store, slot: int, *fills: tuple[int, int]) -> None:
    async def work(r: Repositories) -> None:
        for price, wh in fills:
            await r.markets.record_slot_trade(KABWE, slot, price=price, wh=wh)

    await store.atomic(work)


def make_quote(n: int, user_id: int, *, expires_at: int = T0 + 60 * 1_000_000) -> Quote:
    return Quote(
        id=f"q-{n}",
        user_id=user_id,
        cluster_id=KABWE,
        wh=3_000,
        price=271,
        lifeline_wh=2_000,
        lifeline_price=150,
        cost_ngwee=571,
        slot_start_us=T0,
        created_at_us=expires_at - 60 * 1_000_000,
        expires_at_us=expires_at,
    )


def make_tariff(effective_from: int, base: int, *, source: str = "ERB 2025 tariff order") -> Tariff:
    periods = (TouPeriod("peak", 18 * 60, 22 * 60, 13_000), TouPeriod("night", 22 * 60, 6 * 60, 11_000))
    return Tariff(KABWE, effective_from, base, base * 3 // 4, base * 3 // 2, periods, 2_000, source, "2025-12-01")


async def test_a_slot_price_is_posted_once_and_its_explanation_reads_back_in_order(store: Store) -> None:
    await open_market(store)
    assert await post(store, replace(posted(T0, 271), open=1, high=999)) == [True]
    stored = await store.markets.slot_price(KABWE, T0)
    assert stored == SlotPrice(KABWE, T0, 271, EXPLAINED, open=271, high=271, low=271, close=271)
    assert stored is not None
    assert list(stored.components) == ["tariff", "time_of_use", "utilisation_bps", "imbalance_bps", "smoothed"]
    stored.components["tariff"] = 0  # the caller's copy
    assert await post(store, posted(T0, 300)) == [False]  # a second posting for the slot changes nothing
    again = await store.markets.slot_price(KABWE, T0)
    assert again is not None
    assert (again.price, again.components) == (271, EXPLAINED)
    assert await store.markets.slot_price(KABWE, T0 + SLOT) is None
    assert await store.markets.slot_price(CHIPATA, T0) is None


async def test_trades_make_the_slots_candle_and_volume(store: Store) -> None:
    await open_market(store)
    await post(store, posted(T0, 271), posted(T0 + SLOT, 268))
    await trade_in(store, T0, (265, 1_000))
    first = await store.markets.slot_price(KABWE, T0)
    assert first is not None
    # The first trade opens the candle: the posted price is what was asked, not what traded.
    assert (first.open, first.high, first.low, first.close, first.volume_wh, first.trades) == (
        265,
        265,
        265,
        265,
        1_000,
        1,
    )
    await trade_in(store, T0, (280, 500), (259, 250), (270, 2_000))
    candle = await store.markets.slot_price(KABWE, T0)
    assert candle == SlotPrice(KABWE, T0, 271, EXPLAINED, 265, 280, 259, 270, 3_750, 4)
    assert await store.markets.slot_price(KABWE, T0 + SLOT) == SlotPrice(
        KABWE, T0 + SLOT, 268, EXPLAINED, 268, 268, 268, 268, 0, 0
    )


async def test_history_reads_by_range_oldest_first_and_the_latest_at_a_time(store: Store) -> None:
    await open_market(store)
    slots = [T0 + n * SLOT for n in range(6)]
    await post(store, *(posted(s, 260 + n) for n, s in enumerate(slots)), posted(T0, 199, CHIPATA))
    series = await store.markets.price_series(KABWE, from_us=slots[1], to_us=slots[4])
    assert [(p.slot_start_us, p.price) for p in series] == [(slots[1], 261), (slots[2], 262), (slots[3], 263)]
    assert [p.price for p in await store.markets.price_series(KABWE, from_us=T0, to_us=T0 + DAY, limit=2)] == [260, 261]
    assert await store.markets.price_series(KABWE, from_us=slots[5] + 1, to_us=T0 + DAY) == []
    latest = await store.markets.latest_slot_price(KABWE, at_or_before_us=slots[3] + SLOT // 2)
    assert latest is not None
    assert (latest.slot_start_us, latest.price) == (slots[3], 263)
    at_start = await store.markets.latest_slot_price(KABWE, at_or_before_us=slots[4])
    assert at_start is not None
    assert at_start.price == 264
    assert await store.markets.latest_slot_price(KABWE, at_or_before_us=T0 - 1) is None


async def test_a_quote_is_paid_by_one_operation_and_swept_once_expired(store: Store) -> None:
    market = await open_market(store)
    u = market.user(0)
    quotes = [make_quote(1, u, expires_at=T0 + 60_000_000), make_quote(2, u, expires_at=T0 + 30_000_000)]
    quotes.append(make_quote(3, u, expires_at=T0 + 90_000_000))

    async def insert(r: Repositories) -> None:
        for q in quotes:
            await r.markets.insert_quote(q)

    await store.atomic(insert)
    assert await store.markets.quote_by_id("q-1") == quotes[0]
    assert await store.atomic(lambda r: r.markets.use_quote("q-1", "op-buy-7"))
    assert await store.atomic(lambda r: r.markets.use_quote("q-1", "op-buy-7"))  # the same purchase, retried
    assert not await store.atomic(lambda r: r.markets.use_quote("q-1", "op-buy-8"))
    assert not await store.atomic(lambda r: r.markets.use_quote("q-unknown", "op-buy-8"))
    assert await store.markets.quote_by_id("q-1") == replace(quotes[0], used_by="op-buy-7")
    with pytest.raises(REFUSED):
        await store.atomic(lambda r: r.markets.insert_quote(quotes[1]))

    async def forget(before: int, limit: int) -> int:
        return await store.atomic(lambda r: r.markets.forget_quotes(expired_before_us=before, limit=limit))

    assert await forget(T0 + 30_000_000, 10) == 0  # expired at 30 s is not expired before it
    assert await forget(T0 + 61_000_000, 1) == 1  # the oldest first
    assert await store.markets.quote_by_id("q-2") is None
    assert await store.markets.quote_by_id("q-1") is not None
    assert await forget(T0 + 61_000_000, 10) == 1
    assert [await store.markets.quote_by_id(q.id) for q in quotes] == [None, None, quotes[2]]


async def test_the_tariff_in_force_is_the_latest_that_started(store: Store) -> None:
    await open_market(store)
    january, march = make_tariff(T0, 250), make_tariff(T0 + 59 * DAY, 280, source="ERB 2026 review")

    async def insert(r: Repositories) -> list[bool]:
        return [await r.markets.insert_tariff(t) for t in (march, january, replace(january, base=999))]

    assert await store.atomic(insert) == [True, True, False]
    assert await store.markets.tariffs(KABWE) == [january, march]
    assert await store.markets.tariff_for(KABWE, at_us=T0 - 1) is None
    assert await store.markets.tariff_for(KABWE, at_us=T0) == january
    assert await store.markets.tariff_for(KABWE, at_us=T0 + 59 * DAY - 1) == january
    assert await store.markets.tariff_for(KABWE, at_us=T0 + 59 * DAY) == march
    in_force = await store.markets.tariff_for(KABWE, at_us=T0 + 400 * DAY)
    assert in_force is not None
    assert in_force.periods[1] == TouPeriod("night", 22 * 60, 6 * 60, 11_000)  # wraps past midnight
    assert await store.markets.tariffs(CHIPATA) == []
    with pytest.raises(REFUSED):  # a floor above the cap
        await store.atomic(lambda r: r.markets.insert_tariff(replace(january, effective_from_us=T0 + 1, floor=400)))


async def test_a_months_energy_adds_up_per_user_and_month(store: Store) -> None:
    market = await open_market(store)
    u, other = market.user(0), market.user(1)
    assert await store.markets.monthly_energy(u, 202601) == MonthlyEnergy(u, 202601, 0, 0, 0)

    async def buy(r: Repositories) -> None:
        await r.markets.add_monthly_energy(u, 202601, wh=1_500, ngwee=225, lifeline_wh=1_500)
        await r.markets.add_monthly_energy(u, 202601, wh=2_000, ngwee=542, lifeline_wh=500)
        await r.markets.add_monthly_energy(u, 202602, wh=400, ngwee=108, lifeline_wh=400)

    await store.atomic(buy)
    assert await store.markets.monthly_energy(u, 202601) == MonthlyEnergy(u, 202601, 3_500, 767, 2_000)
    assert await store.markets.monthly_energy(u, 202602) == MonthlyEnergy(u, 202602, 400, 108, 400)
    assert await store.markets.monthly_energy(other, 202601) == MonthlyEnergy(other, 202601)
    for bad in [
        lambda r: r.markets.add_monthly_energy(u, 202613, wh=1, ngwee=1, lifeline_wh=0),  # no 13th month
        lambda r: r.markets.add_monthly_energy(u, 202603, wh=100, ngwee=30, lifeline_wh=101),
    ]:
        with pytest.raises(REFUSED):
            await store.atomic(bad)


async def test_fill_notices_add_up_and_fold_what_was_not_told(store: Store) -> None:
    market = await open_market(store)
    a, b = market.user(0), market.user(1)

    async def fill(user_id: int, slot: int, *, bought: int = 0, sold: int = 0, cluster_id: str = KABWE) -> FillNotice:
        paid, received = bought * 271 // 1_000, sold * 271 // 1_000
        return await store.atomic(
            lambda r: r.markets.note_fill(
                user_id, cluster_id, slot, bought_wh=bought, sold_wh=sold, paid_ngwee=paid, received_ngwee=received
            )
        )

    assert await fill(a, T0, bought=1_000) == FillNotice(a, KABWE, T0, 1, 0, 1_000, 0, 271, 0)
    await store.atomic(lambda r: r.markets.mark_told(a, KABWE, T0, 1))  # the first fill's SMS went at once
    assert await fill(a, T0, bought=500) == FillNotice(a, KABWE, T0, 2, 1, 1_500, 0, 406, 0)
    assert await fill(a, T0, sold=2_000) == FillNotice(a, KABWE, T0, 3, 1, 1_500, 2_000, 406, 542)
    await fill(b, T0, sold=1_000)
    await fill(b, T0 + SLOT, sold=700)
    await fill(a, T0 - SLOT, bought=300)
    await store.atomic(lambda r: r.markets.mark_told(a, KABWE, T0 - SLOT, 1))  # all told: nothing to fold
    await fill(a, T0, bought=100, cluster_id=CHIPATA)

    async def to_fold(before: int, limit: int = 10) -> list[tuple[int, int, int]]:
        notices = await store.atomic(lambda r: r.markets.notices_to_fold(KABWE, slot_before_us=before, limit=limit))
        return [(n.user_id, n.slot_start_us, n.fills - n.told) for n in notices]

    assert await to_fold(T0) == []
    assert await to_fold(T0 + SLOT) == sorted([(a, T0, 2), (b, T0, 1)], key=lambda n: n[0])
    assert await to_fold(T0 + 2 * SLOT) == [*sorted([(a, T0, 2), (b, T0, 1)], key=lambda n: n[0]), (b, T0 + SLOT, 1)]
    assert len(await to_fold(T0 + 2 * SLOT, limit=1)) == 1
    await store.atomic(lambda r: r.markets.mark_told(a, KABWE, T0, 3))
    assert await to_fold(T0 + SLOT) == [(b, T0, 1)]


async def test_a_unit_of_work_that_raises_leaves_no_market_row_behind(store: Store) -> None:
    market = await open_market(store)
    a, b = market.user(0), market.user(1)
    resting = make_order(1, a, Side.SELL, 250)
    await place(store, resting)
    await post(store, posted(T0, 271))

    async def work(r: Repositories) -> None:
        state = await r.markets.lock_market(KABWE)
        await r.markets.save_market(replace(state, next_order_seq=3, next_trade_seq=2))
        assert await r.markets.insert_order(make_order(2, b, Side.BUY, 260))
        await r.markets.update_order(replace(resting, remaining_wh=0, state=OrderState.FILLED, fills=1, reserved=0))
        await r.markets.insert_trade(make_trade(1, b, a, 250, 1_000))
        await r.markets.record_slot_trade(KABWE, T0, price=250, wh=1_000)
        assert await r.markets.insert_slot_price(posted(T0 + SLOT, 255))
        await r.markets.insert_quote(make_quote(1, b))
        assert await r.markets.use_quote("q-1", "op-buy-1")
        assert await r.markets.insert_tariff(make_tariff(T0, 250))
        await r.markets.add_monthly_energy(b, 202601, wh=1_000, ngwee=250, lifeline_wh=1_000)
        await r.markets.note_fill(b, KABWE, T0, bought_wh=1_000, sold_wh=0, paid_ngwee=250, received_ngwee=0)
        assert await r.markets.order_by_id("op-kabwe-mini-2") is not None  # the transaction sees its own rows
        raise RuntimeError("the ledger refused the fill after all of that")

    with pytest.raises(RuntimeError):
        await store.atomic(work)
    assert await store.markets.order_by_id(resting.id) == resting
    assert await store.markets.order_by_id("op-kabwe-mini-2") is None
    assert await store.markets.trades(KABWE) == []
    assert await store.markets.slot_price(KABWE, T0) == replace(posted(T0, 271), open=271, high=271, low=271, close=271)
    assert await store.markets.slot_price(KABWE, T0 + SLOT) is None
    assert await store.markets.quote_by_id("q-1") is None
    assert await store.markets.tariffs(KABWE) == []
    assert await store.markets.monthly_energy(b, 202601) == MonthlyEnergy(b, 202601)
    assert await store.atomic(lambda r: r.markets.notices_to_fold(KABWE, slot_before_us=T0 + DAY, limit=5)) == []
    assert await store.atomic(lambda r: r.markets.lock_market(KABWE)) == MarketState(KABWE, 1, 1)
    await record_trades(store, make_trade(1, b, a, 250, 1_000))  # its number was never taken


def _plan_args(slot: bool, after: bool) -> tuple[object, ...]:
    """best_orders' arguments: cluster, now, limit, then the slot and the page mark when its statement has them."""
    return (KABWE, T0, 10, *((T0 + 4 * SLOT,) if slot else ()), *((250, 10) if after else ()))


def sqlite_plans(database_url: str, fill: str) -> dict[tuple[Side, bool, bool], str]:
    """Run ``fill``, then each best_orders statement's query plan."""
    conn = sqlite3.connect(sqlite_path(database_url))
    try:
        conn.execute(fill)
        conn.commit()
        plans = {}
        for (side, slot, after), statement in BEST_ORDERS.items():
            assert statement.sqlite is not None
            rows = conn.execute(f"EXPLAIN QUERY PLAN {statement.sqlite}", _plan_args(slot, after))
            plans[side, slot, after] = " / ".join(str(r[3]) for r in rows)
        return plans
    finally:
        conn.close()


async def postgres_plans(database_url: str, fill: str) -> dict[tuple[Side, bool, bool], str]:
    """Run ``fill`` and ANALYZE, then each best_orders statement's query plan."""
    pg = await asyncpg.connect(database_url)
    try:
        await pg.execute(fill)
        await pg.execute("ANALYZE market_orders")
        plans = {}
        for (side, slot, after), statement in BEST_ORDERS.items():
            rows = await pg.fetch(f"EXPLAIN {statement.postgres}", *_plan_args(slot, after))
            plans[side, slot, after] = " / ".join(r[0] for r in rows)
        return plans
    finally:
        await pg.close()


async def test_the_best_orders_are_read_down_the_books_index_with_100000_resting(
    store: Store, database_url: str
) -> None:
    if store.backend == "memory":
        pytest.skip("no query plan: the in-memory book is a dict")
    market = await open_market(store, users=1)
    await place(store, make_order(1, market.user(0), Side.SELL, 250))
    # 100,000 more resting orders of both sides in five slots, and 20,000 closed ones, in one statement.
    columns = (
        "id, reference, cluster_id, user_id, side, price, wh, remaining_wh, slot_start, good_for_day, trade_until, "
        "expires_at, seq, state, created_at, updated_at, filled_value, fees_ngwee, fills, reserved, reason"
    )
    values = (
        f"SELECT 'bulk-' || n, 'B' || n, '{KABWE}', {market.user(0)}, "
        "CASE WHEN n % 2 = 0 THEN 'buy' ELSE 'sell' END, 200 + n % 97, 1000, 1000, "
        f"{T0 + 4 * SLOT} + (n % 5) * {SLOT}, 0, {T0 + 3 * SLOT}, {T0 + 9 * SLOT}, n + 1, "
        f"CASE WHEN n % 6 = 1 THEN 'filled' ELSE 'open' END, {T0}, {T0}, 0, 0, 0, 1000, ''"
    )
    last = 120_000
    if database_url.startswith("sqlite:"):
        series = f"WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {last}) "
        plans = sqlite_plans(database_url, f"INSERT INTO market_orders ({columns}) {series}{values} FROM s")
        for (side, _, _), plan in plans.items():
            assert f"USING INDEX market_orders_{side}s" in plan, plan
            assert "TEMP B-TREE" not in plan, plan  # read in order: nothing to sort
    else:
        series = f"FROM generate_series(1::bigint, {last}) AS n"
        plans = await postgres_plans(database_url, f"INSERT INTO market_orders ({columns}) {values} {series}")
        for (side, _, _), plan in plans.items():
            assert f"Index Scan using market_orders_{side}s" in plan, plan
            assert "Sort" not in plan, plan
    assert len(plans) == 8  # each side, with and without a slot, with and without a page mark
    # The page itself: slot 01:00's cheapest sells (the bulk ones there have n % 5 == 0, odd n).
    resting = [(200 + n % 97, n + 1) for n in range(5, last + 1, 10) if n % 6 != 1]
    page = await store.markets.best_orders(KABWE, Side.SELL, now_us=T0, slot_start_us=T0 + 4 * SLOT, limit=3)
    assert [(o.price, o.seq) for o in page] == sorted([*resting, (250, 1)])[:3]
    after = await store.markets.best_orders(
        KABWE, Side.SELL, now_us=T0, slot_start_us=T0 + 4 * SLOT, limit=3, after=(250, 10)
    )
    assert [(o.price, o.seq) for o in after] == sorted(r for r in [*resting, (250, 1)] if r > (250, 10))[:3]
