"""The order book and quotes on the in-memory database, driven by a manual clock: what traders notice."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from engine.identity.model import User
from engine.kernel.clock import MICROS_PER_SECOND, ManualClock
from engine.kernel.errors import InsufficientFunds, PinNotVerified
from engine.ledger.accounts import ENERGY_ISSUANCE
from engine.ledger.model import CreateTransferResult, Ledger, Transfer
from engine.markets.errors import (
    OrderClosed,
    OrderTooSmall,
    PriceOutOfBand,
    QuoteExpired,
    QuoteUsed,
    TooManyOpenOrders,
)
from engine.markets.model import OrderState, Side
from engine.notifications import outbox as sms
from engine.platform import Platform
from storage import open_store
from tests.conftest import TEST_CONFIG, TEST_HASHER
from tests.support.coops import CoopWorld, K

CONFIG = replace(TEST_CONFIG, starting_credit_ngwee=0, sms_daily_cap=1000)
CLUSTER = "kabwe-mini"
KWH = 1000
MINUTE = 60


@pytest.fixture
async def world() -> AsyncIterator[CoopWorld]:
    # 2026-01-01 08:00 UTC = 10:00 local: the midday period begins; the first slot is a quiet one.
    clock = ManualClock(1_767_254_400 * MICROS_PER_SECOND)
    platform = Platform(await open_store("memory:", clock=clock), CONFIG, TEST_HASHER, clock)
    await platform.bootstrap()
    await platform.clusters.create(
        cluster_id=CLUSTER, name="Kabwe Mini", kind="micro", region="Central", capacity_wh=100 * KWH,
        price_ngwee_per_kwh=120,
    )  # fmt: skip
    yield CoopWorld(platform, clock)
    await platform.close()


async def give_energy(world: CoopWorld, user: User, wh: int) -> None:
    transfer = Transfer(f"energy:{user.id}:{wh}", ENERGY_ISSUANCE, user.kwh_account_id, wh, Ledger.KWH)
    assert await world.platform.store.ledger.create_transfers([transfer]) == [CreateTransferResult.OK]


async def place(world: CoopWorld, user: User, side: Side, wh: int, price: int, **kw: object):  # type: ignore[no-untyped-def]
    return await world.platform.orders.place(await world.proof(user), user, CLUSTER, side, wh, price, **kw)  # type: ignore[arg-type]


async def test_strangers_trade_through_the_book_at_the_resting_price(world: CoopWorld) -> None:
    seller, buyer = await world.user("Chipo", ngwee=0), await world.user("Mwila", ngwee=10 * K)
    await give_energy(world, seller, 5 * KWH)
    resting = await place(world, seller, Side.SELL, 2 * KWH, 110)
    assert resting.order.state is OrderState.OPEN
    assert not resting.trades
    assert (await world.platform.wallet.balances(seller)).wh_reserved == 2 * KWH

    taken = await place(world, buyer, Side.BUY, 3 * KWH, 130)
    assert [(t.wh, t.price) for t in taken.trades] == [(2 * KWH, 110)]  # at the seller's price, not the bid
    assert taken.order.state is OrderState.PARTIAL
    assert taken.order.remaining_wh == 1 * KWH
    mine = await world.platform.wallet.balances(buyer)
    assert (mine.wh, mine.ngwee_reserved) == (2 * KWH, 130)  # the last kWh still reserved at the bid
    assert mine.ngwee == 10 * K - 220 - 130
    theirs = await world.platform.wallet.balances(seller)
    assert (theirs.ngwee, theirs.wh, theirs.wh_reserved) == (220, 3 * KWH, 0)
    filled = await world.platform.orders.order_for(seller, resting.order.id)
    assert filled.state is OrderState.FILLED
    assert filled.id == resting.order.id
    # one SMS to each: the taker for its fills, the maker for its first fill in the slot
    assert [m["wh"] for m in await world.sms(buyer, sms.MARKET_BOUGHT)] == [2 * KWH]
    assert [m["ngwee"] for m in await world.sms(seller, sms.MARKET_SOLD)] == [220]


async def test_better_prices_fill_first_then_earlier_orders(world: CoopWorld) -> None:
    sellers = [await world.user(ngwee=0) for _ in range(3)]
    for s in sellers:
        await give_energy(world, s, 5 * KWH)
    first = await place(world, sellers[0], Side.SELL, KWH, 120)
    second = await place(world, sellers[1], Side.SELL, KWH, 120)
    late_cheap = await place(world, sellers[2], Side.SELL, KWH, 115)
    buyer = await world.user(ngwee=10 * K)
    taken = await place(world, buyer, Side.BUY, 2 * KWH, 125)
    assert [t.sell_order_id for t in taken.trades] == [late_cheap.order.id, first.order.id]
    assert (await world.platform.orders.order_for(sellers[1], second.order.id)).state is OrderState.OPEN


async def test_an_order_that_would_trade_with_its_owner_is_stopped_and_says_so(world: CoopWorld) -> None:
    trader = await world.user(ngwee=10 * K)
    await give_energy(world, trader, 5 * KWH)
    await place(world, trader, Side.SELL, KWH, 110)
    stopped = await place(world, trader, Side.BUY, KWH, 120)
    assert stopped.self_trade
    assert stopped.order.state is OrderState.REJECTED
    assert not stopped.trades
    assert (await world.platform.wallet.balances(trader)).ngwee_reserved == 0  # nothing left held


async def test_cancel_releases_the_reservation_and_a_second_cancel_changes_nothing(world: CoopWorld) -> None:
    buyer = await world.user(ngwee=5 * K)
    placed = await place(world, buyer, Side.BUY, 2 * KWH, 125)
    assert (await world.platform.wallet.balances(buyer)).ngwee == 5 * K - 250
    proof = await world.proof(buyer)
    cancelled = await world.platform.orders.cancel(proof, buyer, placed.order.id)
    assert cancelled.state is OrderState.CANCELLED
    assert (await world.platform.wallet.balances(buyer)).ngwee == 5 * K
    again = await world.platform.orders.cancel(await world.proof(buyer), buyer, placed.order.id)
    assert again.state is OrderState.CANCELLED
    assert (await world.platform.wallet.balances(buyer)).ngwee == 5 * K


async def test_refusals_say_why_and_hold_nothing(world: CoopWorld) -> None:
    buyer = await world.user(ngwee=2 * K)
    with pytest.raises(PriceOutOfBand) as band:
        await place(world, buyer, Side.BUY, KWH, 500)
    assert band.value.params == {"floor": 90, "cap": 180}
    with pytest.raises(OrderTooSmall):
        await place(world, buyer, Side.BUY, 50, 120)
    with pytest.raises(InsufficientFunds):
        await place(world, buyer, Side.BUY, 5 * KWH, 120)
    other = await world.user()
    with pytest.raises(PinNotVerified):
        await world.platform.orders.place(await world.proof(other), buyer, CLUSTER, Side.BUY, KWH, 120)
    assert (await world.platform.wallet.balances(buyer)).ngwee == 2 * K
    assert await world.platform.orders.my_orders(buyer) == []


async def test_an_eleventh_open_order_is_refused(world: CoopWorld) -> None:
    buyer = await world.user(ngwee=100 * K)
    for _ in range(10):
        await place(world, buyer, Side.BUY, 100, 100)
    with pytest.raises(TooManyOpenOrders):
        await place(world, buyer, Side.BUY, 100, 100)


async def test_the_same_order_sent_twice_is_placed_once(world: CoopWorld) -> None:
    buyer = await world.user(ngwee=10 * K)
    first = await place(world, buyer, Side.BUY, KWH, 120, operation_id="op-twice")
    second = await place(world, buyer, Side.BUY, KWH, 120, operation_id="op-twice")
    assert second.replayed
    assert second.order.id == first.order.id
    assert len(await world.platform.orders.my_orders(buyer)) == 1
    assert (await world.platform.wallet.balances(buyer)).ngwee_reserved == 120


async def test_what_is_left_at_the_slot_end_is_released_and_told(world: CoopWorld) -> None:
    buyer = await world.user(ngwee=10 * K)
    placed = await place(world, buyer, Side.BUY, KWH, 120)
    await world.wait(45 * MINUTE)  # past the end of its delivery slot
    order = await world.platform.orders.order_for(buyer, placed.order.id)
    assert order.state is OrderState.EXPIRED
    assert (await world.platform.wallet.balances(buyer)).ngwee == 10 * K
    assert [m["ngwee"] for m in await world.sms(buyer, sms.MARKET_EXPIRED_BUY)] == [120]
    with pytest.raises(OrderClosed):
        await world.platform.orders.cancel(await world.proof(buyer), buyer, placed.order.id)


async def test_a_makers_later_fills_in_a_slot_are_folded_into_one_sms(world: CoopWorld) -> None:
    seller = await world.user(ngwee=0)
    await give_energy(world, seller, 10 * KWH)
    await place(world, seller, Side.SELL, 5 * KWH, 110, good_for_day=True)
    for _ in range(3):
        await place(world, await world.user(ngwee=5 * K), Side.BUY, KWH, 120)
    assert len(await world.sms(seller, sms.MARKET_SOLD)) == 1  # the first fill, at once
    await world.wait(16 * MINUTE)  # the slot ends
    folded = await world.sms(seller, sms.MARKET_FOLDED)
    assert [(m["fills"], m["sides"], m["sold_wh"], m["received"]) for m in folded] == [(3, 2, 3 * KWH, 330)]


async def test_a_purchase_pays_its_quote_and_an_expired_quote_is_refused(world: CoopWorld) -> None:
    buyer = await world.user(ngwee=20 * K)
    quote = await world.platform.prices.quote(buyer, CLUSTER, 3 * KWH)
    assert quote.lifeline_wh == 2 * KWH  # the month's lifeline allowance first
    receipt = await world.platform.prices.buy(await world.proof(buyer), buyer, quote.id, operation_id="op-buy")
    assert receipt.cost_ngwee == quote.cost_ngwee
    assert (await world.platform.wallet.balances(buyer)).ngwee == 20 * K - quote.cost_ngwee
    with pytest.raises(QuoteUsed):
        await world.platform.prices.buy(await world.proof(buyer), buyer, quote.id, operation_id="op-other")
    late = await world.platform.prices.quote(buyer, CLUSTER, KWH)
    assert late.lifeline_wh == 0  # the allowance is used up this month
    world.clock.advance(61)
    with pytest.raises(QuoteExpired):
        await world.platform.prices.buy(await world.proof(buyer), buyer, late.id)
    assert (await world.platform.wallet.balances(buyer)).ngwee == 20 * K - quote.cost_ngwee


async def test_the_evening_peak_is_dearer_than_midday_and_every_price_is_explained(world: CoopWorld) -> None:
    midday = (await world.platform.prices.current(CLUSTER)).price  # 10:00 local
    for _ in range(9 * 4):  # to 19:00 local, the slot job posting each slot's price on the way
        await world.wait(15 * MINUTE)
    explained = await world.platform.prices.explain(CLUSTER)
    assert explained.explanation.period == "peak"
    assert explained.explanation.price > midday
    e = explained.explanation
    assert e.floor <= e.price <= e.cap
    assert e.previous > 0
    history = await world.platform.prices.series(CLUSTER, from_us=0, to_us=world.clock.now_us() + 1)
    assert len(history) == 9 * 4 + 1  # no gaps: one row a slot
    assert all(abs(b.price - a.price) <= max(1, a.price * 500 // 10_000) for a, b in itertools.pairwise(history))
