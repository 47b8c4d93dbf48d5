"""The Market on USSD, in English, Chinyanja and Ichibemba, over HTTP on both databases: trading through the book.

Two people who do not know each other trade kWh: the seller's order rests,
the buyer's crosses it and fills at the seller's price; both read what
happened on the screen and by SMS, and the energy is in the buyer's wallet.
My orders comes a page at a time, and cancelling with the PIN gives back what
the order held. Every refusal is one line above the screen it concerns. The
server's clock is held still (market_steps.hold_clock), so the test and the
server see the same slot and price.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from engine.kernel.local_time import local_text
from engine.markets.matching import buy_reservation
from engine.markets.model import OrderState, money_of
from engine.notifications.model import OutboxRow
from tests.e2e.conftest import World
from tests.e2e.journeys import WRONG_PIN, choose, dial_home, lines
from tests.e2e.market_steps import KABWE, hold_clock, open_market, place, screen, trader
from tests.support.gateway import reference_in
from ussd_server.demo import DEMO_PIN

ROW = re.compile(r"^(\d+) (.+)$")


def typed(ngwee: int) -> str:
    """A price as a person types it: 165 -> "1.65"."""
    return f"{ngwee // 100}.{ngwee % 100:02d}"


async def slot_end(world: World) -> str:
    """When an order for the next open slot stops being matched, as the screens say it."""
    now = world.platform.clock.now_us()
    gate = world.platform.prices.market.gate_closure_s * 1_000_000
    until = world.platform.orders.next_open_slot(now) - gate
    return local_text(until, world.platform.config.local_utc_offset_s, "%H:%M")


async def sms_of(world: World, phone: str, template: str) -> tuple[dict[str, str | int], str]:
    """The one SMS of ``template`` the phone was sent: its parameters, and its text as the phone received it."""
    rows: list[OutboxRow] = await world.platform.store.outbox.list_outbox(recipient=phone, limit=100)
    [row] = [r for r in rows if r.message.template == template]
    text = world.t(str(row.message.language), template, **row.message.params)
    assert await world.sms_containing(phone, text) == text
    return dict(row.message.params), text


async def test_strangers_trade_kwh_through_the_book(
    world: World, language: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    hold_clock(world, monkeypatch)
    seller = await trader(world, language, "Chola Mumba", wh=2000)
    buyer = await trader(world, language, "Mapalo Phiri", ngwee=1000)
    today = (await world.platform.prices.current(KABWE[2])).price
    cap = (await world.platform.prices.tariff(KABWE[2])).cap
    until = await slot_end(world)
    seller_before, buyer_before = await world.balances(seller.phone), await world.balances(buyer.phone)

    # The seller offers 2 kWh at today's price (option 1), for the next slot: it rests in the book.
    phone = await dial_home(world, seller)
    await open_market(world, phone, language)
    reply = await choose(world, phone, language, "market.opt_sell")
    assert reply == screen(world, language, "market.sell_kwh", cluster_name=KABWE[1], have_wh=seller_before.wh)
    assert await phone.send("2") == screen(world, language, "market.sell_price", today=today)
    when = screen(world, language, "market.when", "market.opt_slot", "market.opt_day", until=until)
    assert await phone.send("1") == when
    assert await phone.send("1") == screen(world, language, "market.confirm_sell", wh=2000, price=today)
    placed = await phone.send(DEMO_PIN)
    ask_ref = reference_in(placed)
    assert placed == "END " + world.t(
        language, "market.sold", outcome_no=3, left=2000, price=today, until=until, ref=ask_ref
    )
    held = await world.balances(seller.phone)
    assert (held.wh, held.wh_reserved) == (seller_before.wh - 2000, 2000), "the energy is reserved, not gone"

    # The buyer bids up to the cap for 1.5 kWh: it crosses the ask and pays the seller's price.
    phone = await dial_home(world, buyer)
    await open_market(world, phone, language)
    reply = await choose(world, phone, language, "market.opt_buy")
    assert reply == screen(world, language, "market.buy_kwh", cluster_name=KABWE[1], ngwee=buyer_before.ngwee)
    assert await phone.send("1.5") == screen(world, language, "market.buy_price", today=today)
    assert await phone.send(typed(cap)) == when
    reserve = buy_reservation(1500, cap, 0)
    assert await phone.send("1") == screen(
        world, language, "market.confirm_buy", wh=1500, price=cap, reserve=reserve, fee=0
    )
    done = await phone.send(DEMO_PIN)
    bid_ref = reference_in(done)
    paid = money_of(1500 * today)
    assert done == "END " + world.t(language, "market.bought", outcome_no=1, filled=1500, money=paid, ref=bid_ref)
    assert len(phone.replies) <= 9, phone.replies

    bought, sold = await world.balances(buyer.phone), await world.balances(seller.phone)
    assert (bought.ngwee, bought.wh, bought.ngwee_reserved) == (buyer_before.ngwee - paid, 1500, 0)
    assert (sold.ngwee, sold.wh, sold.wh_reserved) == (seller_before.ngwee + paid, seller_before.wh - 2000, 500)

    # The buyer's wallet shows the energy.
    phone = await dial_home(world, buyer)
    wallet = await choose(world, phone, language, "home.balance")
    assert wallet.startswith("CON " + world.t(language, "wallet.balance", ngwee=bought.ngwee, wh=1500)), wallet

    # Both get an SMS in their language: the buyer all filled, the seller 0.5 kWh still waiting.
    params, _ = await sms_of(world, buyer.phone, "sms.market_bought")
    assert (params["wh"], params["ngwee"], params["left_wh"], params["ref"]) == (1500, paid, 0, bid_ref)
    params, text = await sms_of(world, seller.phone, "sms.market_sold")
    assert (params["wh"], params["ngwee"], params["left_wh"], params["ref"]) == (1500, paid, 500, ask_ref)
    assert KABWE[1] in text

    # The seller's order, partly filled, is under My orders.
    phone = await dial_home(world, seller)
    await open_market(world, phone, language)
    mine = await choose(world, phone, language, "market.opt_orders")
    row = world.t(
        language,
        "market.order_item",
        side=world.t(language, "market.side", side_no=2),
        wh=2000,
        price=today,
        fill="1.5/2",
    )
    assert lines(mine)[1] == f"1 {row}", mine


async def test_my_orders_a_page_at_a_time_and_cancel_with_the_pin(
    world: World, language: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = hold_clock(world, monkeypatch)
    user = await trader(world, language, "Natasha Mwale", ngwee=2000)
    floor = (await world.platform.prices.tariff(KABWE[2])).floor
    prices = [floor + n for n in range(6)]
    ids: dict[int, str] = {}
    for price in prices:  # a second apart, as people place them
        ids[price] = await place(world, user, "buy", 500, price)
        clock.advance(1)
    before = await world.balances(user.phone)
    side = world.t(language, "market.side", side_no=1)
    rows = {world.t(language, "market.order_item", side=side, wh=500, price=p, fill="0/0.5"): p for p in prices}

    phone = await dial_home(world, user)
    await open_market(world, phone, language)
    page = await choose(world, phone, language, "market.opt_orders")
    assert lines(page)[0] == world.t(language, "market.orders"), page
    seen: dict[int, str] = {}
    pages = 0
    while True:
        pages += 1
        shown = {int(m[1]): m[2] for m in map(ROW.match, lines(page)) if m and m[2] in rows}
        assert 0 < len(shown) <= world.platform.prices.market.page_size, page
        seen |= shown
        if world.t(language, "nav.more") not in lines(page):
            break
        page = await phone.send("98")
    assert pages > 1, "six orders take more than one page"
    assert sorted(seen) == list(range(1, 7)), seen
    assert set(seen.values()) == set(rows), seen
    assert [rows[seen[n]] for n in sorted(seen)] == sorted(prices, reverse=True), "newest first"

    # The last one (the first placed) in full, then cancelled with the PIN: what it held comes back.
    price = rows[seen[6]]
    until = local_text(
        (await world.platform.orders.order_for(user, ids[price])).trade_until_us,
        world.platform.config.local_utc_offset_s,
        "%H:%M",
    )
    view = await phone.send("6")
    assert view == screen(
        world,
        language,
        "market.order_buy",
        "market.opt_cancel",
        wh=500,
        price=price,
        fill="0/0.5",
        money=0,
        until=until,
    )
    held = buy_reservation(500, price, 0)
    assert await phone.send("1") == screen(world, language, "market.cancel_buy", ngwee=held)
    wrong = await phone.send(WRONG_PIN)
    assert wrong == screen(world, language, "market.cancel_buy", say="err.wrong_pin", attempts_left=2, ngwee=held)
    done = await phone.send(DEMO_PIN)
    ref = reference_in(done)
    assert done == "END " + world.t(language, "market.cancelled_buy", ngwee=held, ref=ref)

    after = await world.balances(user.phone)
    assert (after.ngwee, after.ngwee_reserved) == (before.ngwee + held, before.ngwee_reserved - held)
    cancelled = await world.platform.orders.order_for(user, ids[price])
    assert (cancelled.state, cancelled.reference) == (OrderState.CANCELLED, ref)
    assert await world.platform.orders.count_active(user) == 5


async def test_refusals_are_one_line_on_the_screen_they_concern(
    world: World, language: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    hold_clock(world, monkeypatch)
    user = await trader(world, language, "Bwalya Mwansa", ngwee=1000, wh=2000)
    today = (await world.platform.prices.current(KABWE[2])).price
    tariff = await world.platform.prices.tariff(KABWE[2])
    own_ask = await place(world, user, "sell", 500, today)  # the member's own order, resting
    before = await world.balances(user.phone)

    phone = await dial_home(world, user)
    await open_market(world, phone, language)
    await choose(world, phone, language, "market.opt_buy")
    kwh: dict[str, Any] = {"cluster_name": KABWE[1], "ngwee": before.ngwee}
    small = await phone.send("0.05")
    assert small == screen(world, language, "market.buy_kwh", say="err.order_too_small", min_wh=100, **kwh)
    await phone.send("1")
    far = await phone.send("99")
    band: dict[str, Any] = {"floor": tariff.floor, "cap": tariff.cap}
    assert far == screen(world, language, "market.buy_price", say="err.price_out_of_band", today=today, **band)
    await phone.send("1")  # today's price
    summary: dict[str, Any] = {"wh": 1000, "price": today, "reserve": buy_reservation(1000, today, 0), "fee": 0}
    assert await phone.send("1") == screen(world, language, "market.confirm_buy", **summary)
    wrong = await phone.send(WRONG_PIN)
    assert wrong == screen(world, language, "market.confirm_buy", say="err.wrong_pin", attempts_left=2, **summary)

    # The bid would take the member's own ask: stopped, and said on the price screen; nothing moved.
    stopped = await phone.send(DEMO_PIN)
    assert stopped == screen(world, language, "market.buy_price", say="err.market_self_trade", today=today)
    assert await world.balances(user.phone) == before
    assert (await world.platform.orders.order_for(user, own_ask)).state is OrderState.OPEN
    assert await world.platform.orders.count_active(user) == 1

    # With as many open orders as allowed, Buy says so at once, above the market's menu.
    most = world.platform.prices.market.max_open_orders_per_user
    for _ in range(most - 1):
        await place(world, user, "sell", 100, tariff.cap)  # asks never cross the member's own ask
    phone = world.phone(user.phone)
    offer = await phone.dial()  # hung up on the price screen: offered back, and started afresh
    assert lines(offer)[0] == world.t(language, "resume.offer"), offer
    await choose(world, phone, language, "opt.no")
    menu = await open_market(world, phone, language)
    refused = await choose(world, phone, language, "market.opt_buy")
    assert lines(refused)[0] == world.t(language, "err.too_many_open_orders", max=most), refused
    assert lines(refused)[2:] == lines(menu)[1:], "the same menu, the reason above it"
    title = world.t(language, "market.menu", cluster_name="", price=today)  # the name may be shortened to fit
    assert lines(refused)[1].endswith(title), refused
