"""The demo market: after ``enerlectra demo seed`` the price screens have weeks of history and the books have depth."""

from __future__ import annotations

import statistics
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from engine.kernel.clock import MICROS_PER_SECOND, ManualClock, SystemClock
from engine.kernel.local_time import local_day
from engine.markets.history import TOO_LITTLE_DATA, close_of
from engine.markets.model import SlotPrice
from engine.markets.prices import SLOT_JOB
from engine.platform import Platform
from tests.conftest import TEST_HASHER
from tests.e2e.conftest import BASE_ENV
from ussd_server.bootstrap import open_platform
from ussd_server.demo import CLUSTERS, USERS, seed_demo
from ussd_server.demo_markets import CHELSTONE, CLOUDY_DAYS_AGO, KABULONGA, TARIFF_SOURCE, seed_markets
from ussd_server.settings import Settings

DAY_US = 24 * 3600 * MICROS_PER_SECOND
IDS = [c.id for c in CLUSTERS]


@asynccontextmanager
async def demo(database_url: str, clock: ManualClock | None = None) -> AsyncIterator[tuple[Platform, Settings]]:
    """The demo's clusters and users on a fresh database, and the settings ``seed_markets`` opens it with."""
    settings = Settings.from_env({**BASE_ENV, "DATABASE_URL": database_url})
    platform = await open_platform(settings, hasher=TEST_HASHER, clock=clock)
    try:
        await seed_demo(platform)
        yield platform, settings
    finally:
        await platform.close()


async def history(platform: Platform, cluster_id: str, now_us: int) -> list[SlotPrice]:
    return await platform.prices.series(cluster_id, from_us=now_us - 30 * DAY_US, to_us=now_us + DAY_US)


async def test_every_demo_cluster_has_weeks_of_prices_with_advice_and_lusaka_has_a_book(database_url: str) -> None:
    async with demo(database_url) as (platform, settings):
        made = await seed_markets(settings, IDS)
        now = SystemClock().now_us()
        for cluster_id in IDS:
            rows = await history(platform, cluster_id, now)
            assert len(rows) >= 14 * 96, (cluster_id, len(rows))
            assert rows[-1].slot_start_us - rows[0].slot_start_us >= 14 * DAY_US
            assert sum(1 for r in rows if r.trades) > len(rows) // 10, "a share of slots traded"
            assert len({r.price for r in rows}) > 10, "the price moves"
            _, summary = await platform.prices.summary(cluster_id)
            assert summary.advice.reason != TOO_LITTLE_DATA, (cluster_id, summary)
            assert summary.volatility_week_bps, summary
        for cluster_id in (KABULONGA, CHELSTONE):
            depth = await platform.orders.depth(cluster_id)
            assert len(depth.bids) >= 2, depth
            assert len(depth.asks) >= 2, depth
            assert depth.bids[0][0] < depth.asks[0][0], "what rests does not cross"
            assert await platform.orders.trades(cluster_id), "two orders crossed: trades today"
        assert made["orders"] >= 12, made
        assert made["trades"] == 2, made
        mwila = await platform.users.get(USERS[0][0])
        assert await platform.orders.my_orders(mwila), "a demo user has an order to look at"
        assert (await platform.prices.tariff(KABULONGA)).source == TARIFF_SOURCE
        assert (await platform.prices.tariff(CHELSTONE)).source != TARIFF_SOURCE, "the others keep the default"


async def test_the_history_looks_like_a_solar_micro_grid(database_url: str) -> None:
    async with demo(database_url) as (platform, settings):
        await seed_markets(settings, IDS)
        now = SystemClock().now_us()
        offset = settings.engine_config().local_utc_offset_s
        rows = await history(platform, CHELSTONE, now)

        def hour(r: SlotPrice) -> int:
            return (r.slot_start_us // MICROS_PER_SECOND + offset) // 3600 % 24

        midday = statistics.median(close_of(r) for r in rows if 11 <= hour(r) < 14)
        evening = statistics.median(close_of(r) for r in rows if 19 <= hour(r) < 22)
        assert midday < evening, (midday, evening)
        today = local_day(now, offset)
        cloudy = [r.price for r in rows if today - local_day(r.slot_start_us, offset) in CLOUDY_DAYS_AGO]
        sunny = [r.price for r in rows if 15 <= today - local_day(r.slot_start_us, offset) <= 18]
        assert statistics.median(cloudy) > statistics.median(sunny), "a cloudy spell keeps prices up"


async def test_seeding_twice_changes_nothing_and_the_live_price_carries_on(database_url: str) -> None:
    now = SystemClock().now_us()
    async with demo(database_url) as (platform, settings):
        await seed_markets(settings, IDS, now_us=now)

        async def state() -> tuple[object, ...]:
            people = [await platform.users.get(phone) for phone, _, _ in USERS]
            return (
                [await history(platform, c, now) for c in IDS],
                [await platform.orders.my_orders(u, active=False) for u in people],
                [await platform.wallet.balances(u) for u in people],
                [await platform.orders.trades(c) for c in (KABULONGA, CHELSTONE)],
                await platform.prices.tariffs(KABULONGA),
            )

        before = await state()
        again = await seed_markets(settings, IDS, now_us=now)
        assert again == {"price_rows": 0, "orders": 0, "trades": 0}
        assert await state() == before
        last = (await history(platform, KABULONGA, now))[-1]
        assert await platform.store.job_queue.job_by_key(SLOT_JOB, KABULONGA), "the slot job keeps prices coming"

    slot_us = last.slot_start_us + platform.prices.market.slot_s * MICROS_PER_SECOND
    async with demo(database_url, ManualClock(slot_us + MICROS_PER_SECOND)) as (later, _):
        explained = (await later.prices.explain(KABULONGA)).explanation
        assert (explained.previous, explained.slots_since) == (last.price, 1), explained
        assert abs(explained.price - last.price) <= max(1, last.price * 500 // 10_000), "at most one step away"
