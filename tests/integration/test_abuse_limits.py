"""Caps that stop cheap abuse, counted in the database on both backends: gifts, offers, sizes.

Two numbers could pass 10 Wh back and forth forever, each gift sending two
SMS; offers and declines likewise. A cap is counted in the same transaction
as what it counts, so a refused operation moves nothing and uses nothing.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.identity.model import User
from engine.kernel import errors
from engine.kernel.clock import ManualClock
from engine.platform import Platform
from engine.uow import Database as Store
from tests.conftest import TEST_CONFIG, TEST_HASHER

CONFIG = replace(TEST_CONFIG, gifts_per_day=2, offers_per_day=4, max_open_offers_per_pair=2, min_transfer_wh=100)


@pytest.fixture
async def capped(store: Store, clock: ManualClock) -> Platform:
    platform = Platform(store, CONFIG, TEST_HASHER, clock)
    await platform.bootstrap()
    await platform.clusters.create(
        cluster_id="lsk-caps",
        name="Caps Solar",
        kind="micro",
        region="Lusaka",
        capacity_wh=100_000,
        price_ngwee_per_kwh=100,
    )
    return platform


async def pair(platform: Platform) -> tuple[User, User]:
    a = await platform.users.register(phone="+260977000001", name="Ann Banda", language="en", pin="4826")
    b = await platform.users.register(phone="+260966000002", name="Ben Phiri", language="en", pin="4826")
    for user in (a, b):
        await platform.clusters.buy(buyer=user, cluster_id="lsk-caps", wh=5000, operation_id=f"fund:{user.id}")
    return a, b


async def energy(platform: Platform, user: User) -> int:
    return (await platform.wallet.balances(user)).wh


async def test_gifts_stop_at_the_daily_cap_and_start_again_the_next_local_day(
    capped: Platform, clock: ManualClock
) -> None:
    a, b = await pair(capped)
    await capped.trading.trade(seller=a, buyer_phone=b.phone, wh=100, price_ngwee_per_kwh=0, operation_id="g1")
    await capped.trading.trade(seller=a, buyer_phone=b.phone, wh=100, price_ngwee_per_kwh=0, operation_id="g2")
    # A retried gift is the same gift: it neither moves energy again nor uses the cap.
    await capped.trading.trade(seller=a, buyer_phone=b.phone, wh=100, price_ngwee_per_kwh=0, operation_id="g2")
    before = (await energy(capped, a), await energy(capped, b))
    outbox = len(await capped.store.outbox.list_outbox(limit=500))
    with pytest.raises(errors.DailyLimitReached) as refused:
        await capped.trading.trade(seller=a, buyer_phone=b.phone, wh=100, price_ngwee_per_kwh=0, operation_id="g3")
    assert refused.value.params["kind"] == "gifts"
    assert (await energy(capped, a), await energy(capped, b)) == before, "a refused gift moves nothing"
    assert len(await capped.store.outbox.list_outbox(limit=500)) == outbox, "and sends no SMS"
    # B can still give back: the cap is per giver.
    await capped.trading.trade(seller=b, buyer_phone=a.phone, wh=100, price_ngwee_per_kwh=0, operation_id="g4")
    clock.advance(24 * 3600)
    await capped.trading.trade(seller=a, buyer_phone=b.phone, wh=100, price_ngwee_per_kwh=0, operation_id="g5")


async def test_gifts_and_offers_below_the_minimum_are_refused(capped: Platform) -> None:
    a, b = await pair(capped)
    with pytest.raises(errors.BelowMinimum):
        await capped.trading.trade(seller=a, buyer_phone=b.phone, wh=99, price_ngwee_per_kwh=0)
    with pytest.raises(errors.BelowMinimum):
        await capped.offers.offer(seller=a, buyer_phone=b.phone, wh=99, price_ngwee_per_kwh=120)
    assert await energy(capped, a) == 5000


async def test_open_offers_between_two_people_are_capped_and_free_up_when_one_closes(capped: Platform) -> None:
    a, b = await pair(capped)
    first = await capped.offers.offer(seller=a, buyer_phone=b.phone, wh=100, price_ngwee_per_kwh=120)
    await capped.offers.offer(seller=a, buyer_phone=b.phone, wh=100, price_ngwee_per_kwh=120)
    with pytest.raises(errors.TooManyOpenOffers):
        await capped.offers.offer(seller=a, buyer_phone=b.phone, wh=100, price_ngwee_per_kwh=120)
    assert await energy(capped, a) == 4800, "the refused offer reserved nothing"
    await capped.offers.decline(buyer=b, offer_id=first.id)
    await capped.offers.offer(seller=a, buyer_phone=b.phone, wh=100, price_ngwee_per_kwh=120)


async def test_offers_stop_at_the_daily_cap(capped: Platform) -> None:
    a, b = await pair(capped)
    c = await capped.users.register(phone="+260955000003", name="Cleo Zulu", language="ny", pin="4826")
    for buyer in (b, b, c, c):
        offer = await capped.offers.offer(seller=a, buyer_phone=buyer.phone, wh=100, price_ngwee_per_kwh=120)
        await capped.offers.decline(buyer=buyer, offer_id=offer.id)  # declined offers still count
    with pytest.raises(errors.DailyLimitReached) as refused:
        await capped.offers.offer(seller=a, buyer_phone=c.phone, wh=100, price_ngwee_per_kwh=120)
    assert refused.value.params["kind"] == "offers"


async def test_old_daily_counters_are_dropped_after_a_week(capped: Platform, clock: ManualClock) -> None:
    a, b = await pair(capped)
    await capped.trading.trade(seller=a, buyer_phone=b.phone, wh=100, price_ngwee_per_kwh=0, operation_id="old")
    assert await capped.forget_old_counters() == 0, "this week's counters are kept"
    clock.advance(8 * 24 * 3600)
    assert await capped.forget_old_counters() >= 1
