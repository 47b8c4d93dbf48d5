"""Prices on USSD, in English, Chinyanja and Ichibemba, on both databases: the Market's price screen and Buy's quotes.

The price screen says, on one screen, today's price and its trend, today's
range, the one piece of advice, and this month's saving against ZESCO, told
honestly when it is none. Buying from a cluster shows a quote and pays exactly
it; a quote that expired before the PIN is quoted again on the same screen and
needs the PIN again. The market's SMS and its fullest screens fit in every
language.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from engine.kernel.clock import MICROS_PER_SECOND
from engine.kernel.units import cost_of_energy, format_money
from engine.markets.history import TOO_LITTLE_DATA
from engine.markets.model import Quote, SlotPrice
from engine.markets.pricing import slot_start_us
from engine.uow import Repositories
from tests.e2e.conftest import LANGUAGES, World
from tests.e2e.journeys import choose, dial_home, go_to_kwh, lines
from tests.e2e.market_steps import KABWE, hold_clock, open_market, screen
from tests.support.gateway import Phone, reference_in
from ussd_server.appkeys import SESSIONS
from ussd_server.demo import DEMO_PIN
from ussd_server.gsm7 import gsm7_length
from ussd_server.i18n import Catalogs
from ussd_server.menu.reply import SCREEN_LIMIT, TEXT_BUDGET

KABULONGA = ("Lusaka", "Kabulonga Micro-Grid", "lsk-kabulonga-micro")


def prices_screen(world: World, language: str, price: int, low: int, high: int, **words: int) -> str:
    """The price screen, its trend, advice and savings lines worded by number as the app words them."""
    values: dict[str, Any] = {
        "price": price,
        "low": low,
        "high": high,
        "trend": world.t(language, "market.trend", trend_no=words["trend_no"], pct=words.get("pct", 0)),
        "advice": world.t(language, "market.advice", advice_no=words["advice_no"]),
        "savings": world.t(language, "market.savings", savings_no=words["savings_no"], ngwee=words.get("ngwee", 0)),
    }
    return screen(world, language, "market.prices", **values)


async def test_prices_on_one_screen_for_a_new_market(
    world: World, language: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    hold_clock(world, monkeypatch)
    user = await world.new_user(language, "Bwalya Mwansa")
    quote = await world.platform.prices.quote(user, KABWE[2], 2000)  # 2 kWh bought this month
    await world.platform.prices.buy(await world.platform.users.verify_pin(user, DEMO_PIN), user, quote.id)

    phone = await dial_home(world, user)
    await open_market(world, phone, language)
    reply = await choose(world, phone, language, "market.opt_prices")

    posted, summary = await world.platform.prices.summary(KABWE[2])
    saved = await world.platform.prices.savings(user)
    assert (summary.trend.previous, summary.advice.reason) == (None, TOO_LITTLE_DATA), "a market with no history"
    assert (saved.wh, saved.paid_ngwee) == (2000, quote.cost_ngwee)
    assert saved.paid_more, "2 kWh at about K1 each, against ZESCO's first band at K0.35"
    expected = prices_screen(
        world, language, posted.price, summary.low, summary.high, trend_no=0, advice_no=4, savings_no=2,
        ngwee=-saved.saved_ngwee,
    )  # fmt: skip
    assert reply == expected
    if language == "en":
        more = format_money(saved.paid_ngwee - saved.grid_ngwee)
        assert lines(reply)[2:4] == ["No advice: too little data.", f"This month you paid {more} more than ZESCO."]


async def history(world: World, cluster_id: str, then: int, now: int, slot_us: int) -> None:
    """Four days of slots at ``then`` before the slot now, which is posted at ``now``."""
    current = slot_start_us(world.platform.clock.now_us(), world.platform.prices.market.slot_s)
    rows = [
        SlotPrice(cluster_id, current - n * slot_us, then, {}, then, then, then, then) for n in range(1, 4 * 96 + 1)
    ]
    rows.append(SlotPrice(cluster_id, current, now, {}, now, now, now, now))

    async def work(r: Repositories) -> None:
        for row in rows:
            assert await r.markets.insert_slot_price(row)

    await world.platform.store.atomic(work)


async def test_prices_say_the_trend_and_the_advice_from_the_history(
    world: World, language: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    hold_clock(world, monkeypatch)
    await history(world, KABWE[2], 100, 130, world.platform.prices.market.slot_s * MICROS_PER_SECOND)
    user = await world.new_user(language, "Chipo Banda")

    phone = await dial_home(world, user)
    await open_market(world, phone, language)
    reply = await choose(world, phone, language, "market.opt_prices")

    _, summary = await world.platform.prices.summary(KABWE[2])
    assert (summary.price, summary.trend.change_bps, summary.advice.kind) == (130, 3_000, "sell"), summary
    words = {"trend_no": 1, "pct": 300, "advice_no": 2, "savings_no": 0}
    assert reply == prices_screen(world, language, 130, summary.low, 130, **words)
    if language == "en":
        assert lines(reply)[0] == "K1.30/kWh now, up 30.0% on yesterday", reply
        assert lines(reply)[2:4] == ["Good time to sell.", "You bought no energy this month."], reply


async def test_a_member_of_one_coop_finds_its_cluster_first(world: World, language: str) -> None:
    founder = await world.new_user(language, "Mutale Banda")
    proof = await world.platform.users.verify_pin(founder, DEMO_PIN)
    coop = await world.platform.coops.form(proof, founder, name="Chawama Solar", kind="micro", region="lusaka")

    phone = await dial_home(world, founder)
    places = await choose(world, phone, language, "home.market")
    assert lines(places)[:3] == [world.t(language, "market.pick_coop"), "1 Chawama Solar", "2 Lusaka"], places
    menu = await phone.send("1")
    price = (await world.platform.prices.current(coop.id)).price
    assert lines(menu)[0] == world.t(language, "market.menu", cluster_name="Chawama Solar", price=price), menu


async def quote_shown(world: World, phone: Phone) -> Quote:
    """The quote the phone's PIN screen shows (its id is kept in the session)."""
    session = await world.client.app[SESSIONS].load(phone.session_id)
    assert session is not None
    quote = await world.platform.store.markets.quote_by_id(str(session.values["quote"]))
    assert quote is not None
    return quote


async def test_buy_pays_the_quote_and_quotes_again_when_it_expired(
    world: World, language: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = hold_clock(world, monkeypatch)
    region, name, cluster_id = KABULONGA
    user = await world.new_user(language, "Mapalo Phiri")
    phone = await dial_home(world, user)

    kwh = await go_to_kwh(world, phone, language, region, name)
    now = (await world.platform.prices.current(cluster_id)).price
    available = (await world.platform.clusters.get(cluster_id)).available_wh
    assert lines(kwh)[0] == world.t(language, "buy.kwh", cluster_name=name, price=now, available=available), kwh
    confirm = await phone.send("2.5")
    first = await quote_shown(world, phone)
    base = (await world.platform.prices.tariff(cluster_id)).base
    assert (first.wh, first.price, first.lifeline_wh, first.lifeline_price) == (2500, now, 2000, min(base, now))
    assert first.cost_ngwee == cost_of_energy(2000, first.lifeline_price) + cost_of_energy(500, now)
    summary: dict[str, Any] = {"wh": 2500, "cluster_name": name, "lifeline_wh": 2000}
    assert confirm == screen(world, language, "buy.confirm_lifeline", cost=first.cost_ngwee, **summary)

    # The PIN comes after the quote's minute: nothing is charged, the new price is shown for the PIN again.
    clock.advance(world.platform.prices.market.quote_ttl_s + 1)
    before = await world.balances(user.phone)
    again = await phone.send(DEMO_PIN)
    second = await quote_shown(world, phone)
    assert second.id != first.id
    assert again == screen(
        world, language, "buy.confirm_lifeline", say="err.quote_expired", cost=second.cost_ngwee, **summary
    )
    assert await world.balances(user.phone) == before, "no new price is charged without the PIN"

    receipt = await phone.send(DEMO_PIN)
    ref = reference_in(receipt)
    cost = second.cost_ngwee
    assert receipt == "END " + world.t(
        language, "buy.receipt", wh=2500, cost=cost, ref=ref, ngwee=before.ngwee - cost, bal_wh=2500
    )
    after = await world.balances(user.phone)
    assert (after.ngwee, after.wh) == (before.ngwee - cost, 2500)
    month = await world.platform.prices.savings(user)
    assert (month.wh, month.paid_ngwee) == (2500, cost), "the purchase counts toward this month's energy"


# --- every language fits ---------------------------------------------------------------------------

SMS_TEMPLATES = (
    "sms.market_bought",
    "sms.market_sold",
    "sms.market_folded",
    "sms.market_expired_buy",
    "sms.market_expired_sell",
)
# The longest values an SMS or screen shows in practice: a 30-character cluster name, K999.99 and
# 999.999 kWh, a balance of K99,999.99.
LONGEST = {
    "cluster": "Chelstone Neighbourhood Solars",
    "wh": 999_999,
    "ngwee": 99_999,
    "fee": 0,
    "fills": 99,
    "left_wh": 999_999,
    "ref": "K7M3Q9XP2A",
    "balance_wh": 999_999,
    "balance_ngwee": 9_999_999,
    "time": "23:45",
    "bought_wh": 999_999,
    "paid": 99_999,
    "sold_wh": 999_999,
    "received": 99_999,
}


def test_every_market_sms_fits_one_message_in_every_language() -> None:
    catalogs = Catalogs.load()
    for language, template in itertools.product(LANGUAGES, SMS_TEMPLATES):
        for left, sides in itertools.product((0, 999_999), (1, 2, 3)):
            values = {**LONGEST, "left_wh": left, "sold_wh": left, "sides": sides}
            text = catalogs.render(language, template, values)
            assert "{" not in text, text
            assert gsm7_length(text) <= SCREEN_LIMIT, f"{language} {template}: {gsm7_length(text)}: {text}"


def test_the_fullest_price_screen_fits_in_every_language() -> None:
    catalogs = Catalogs.load()
    for language in LANGUAGES:
        for trend_no, advice_no, savings_no in itertools.product(range(4), range(1, 5), range(4)):
            values = {
                "price": 999,
                "low": 999,
                "high": 999,
                "trend": catalogs.render(language, "market.trend", {"trend_no": trend_no, "pct": 999}),
                "advice": catalogs.render(language, "market.advice", {"advice_no": advice_no}),
                "savings": catalogs.render(language, "market.savings", {"savings_no": savings_no, "ngwee": 99_999}),
            }
            text = "\n".join(
                [catalogs.render(language, "market.prices", values), catalogs.text(language, "nav.back_home")]
            )
            assert gsm7_length(text) <= TEXT_BUDGET, f"{language}: {gsm7_length(text)}: {text}"
