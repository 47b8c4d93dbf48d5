"""Every USSD journey, in English, Chinyanja and Ichibemba, over HTTP on both databases.

Screens are compared with the catalog texts the user should see; money and
energy are checked in the engine; SMS in the outbox and in the phone's inbox
(delivered by the app's own outbox worker). Tests dial only as users made for
the test (unique numbers), so the shared Redis never offers one test another
test's dropped session.
"""

from __future__ import annotations

import re

from engine.energy.model import ClusterKind
from engine.identity.model import User
from engine.kernel.local_time import local_text
from engine.kernel.units import cost_of_energy, format_energy, format_money
from engine.notifications.model import OutboxRow
from tests.e2e.conftest import LANGUAGES, World
from tests.e2e.journeys import MWILA, WRONG_PIN, choose, dial_home, go_to_kwh, lines
from tests.support.flat_prices import flat_price
from tests.support.gateway import Phone, option, reference_in
from tests.support.phones import unique_phone
from ussd_server.demo import DEMO_PIN

NEW_PIN = "4826"
# What a user reads with one try left: the singular form, in each language.
ONE_TRY_LEFT = {
    "en": "Wrong PIN. 1 try left.",
    "ny": "PIN yolakwa. Kwatsala mwayi umodzi wokha.",
    "bem": "PIN tailungeme. Kwashala umuku umo fye.",
}
LANGUAGE_NAMES = {"en": "English", "ny": "Chinyanja", "bem": "Ichibemba"}
KABULONGA = ("Lusaka", "Kabulonga Micro-Grid", "lsk-kabulonga-micro", 115)


def other_language(language: str) -> str:
    return LANGUAGES[(LANGUAGES.index(language) + 1) % len(LANGUAGES)]


async def outbox(world: World, phone: str, template: str | None = None) -> list[OutboxRow]:
    rows = await world.platform.store.outbox.list_outbox(recipient=phone, limit=100)
    return [r for r in rows if template is None or r.message.template == template]


# --- registration -------------------------------------------------------------------


async def test_registration_in_chosen_language(world: World, language: str) -> None:
    phone = world.phone()
    welcome = await phone.dial()
    assert lines(welcome)[0] == world.t("en", "reg.welcome"), welcome
    for lang in LANGUAGES:
        assert world.t("en", f"lang.{lang}") in welcome, f"language {lang} not offered:\n{welcome}"

    reply = await phone.send(option(welcome, world.t("en", f"lang.{language}")))
    assert lines(reply)[0] == world.t(language, "reg.name"), reply
    reply = await phone.send("Mutale Chanda")
    assert lines(reply)[0] == world.t(language, "reg.pin", name="Mutale Chanda"), reply
    reply = await phone.send(NEW_PIN)
    assert lines(reply)[0] == world.t(language, "reg.pin_again"), reply
    home = await phone.send(NEW_PIN)

    assert len(phone.replies) <= 5, phone.replies
    keys = (
        "home.balance",
        "home.buy",
        "home.sell",
        "home.send",
        "home.offers",
        "home.account",
        "home.coop",
        "home.market",
    )
    assert lines(home) == [
        world.t(language, "home.title", first_name="Mutale"),
        *(f"{i} {world.t(language, key)}" for i, key in enumerate(keys, 1)),
    ], f"the main menu differs:\n{home}"
    user = await world.user(phone.number)
    assert (user.name, str(user.language)) == ("Mutale Chanda", language)
    balances = await world.platform.wallet.balances(user)
    assert (balances.ngwee, balances.wh) == (500, 0), "a new user starts with K5.00 and no energy"
    await world.platform.users.verify_pin(user, NEW_PIN)
    welcome_sms = await outbox(world, phone.number, "sms.welcome")
    assert [str(r.message.language) for r in welcome_sms] == [language]
    text = await world.sms_containing(phone.number, "Enerlectra")
    params = {"shortcode": world.settings.shortcode, **welcome_sms[0].message.params}
    assert text == world.t(language, "sms.welcome", **params)
    assert all(x in text for x in ("*384*2025#", "K5.00")), text


async def test_registration_pin_mismatch_asks_again(world: World, language: str) -> None:
    phone = world.phone()
    await phone.dial()
    await phone.send(option(phone.last, world.t("en", f"lang.{language}")), "Chanda")
    await phone.send(NEW_PIN)
    reply = await phone.send("7391")

    assert reply.startswith("CON "), reply
    assert lines(reply)[:2] == [world.t(language, "err.pin_mismatch"), world.t(language, "reg.pin", name="Chanda")]
    assert await world.platform.users.find(phone.number) is None, "registered although the PINs differed"

    await phone.send("7391")
    home = await phone.send("7391")
    assert lines(home)[0] == world.t(language, "home.title", first_name="Chanda"), home
    await world.platform.users.verify_pin(await world.user(phone.number), "7391")


# --- wallet -------------------------------------------------------------------------


async def test_balance_in_two_replies(world: World, language: str) -> None:
    user = await world.new_user(language, "Bwalya Mwansa")
    await world.platform.clusters.buy(buyer=user, cluster_id="kbw-campus-solar", wh=1250, operation_id="t:b")
    phone = await dial_home(world, user)

    reply = await choose(world, phone, language, "home.balance")

    assert len(phone.replies) == 2
    b = await world.platform.wallet.balances(user)
    assert (b.ngwee, b.wh) == (500 - 138, 1250)
    assert reply.startswith("CON " + world.t(language, "wallet.balance", ngwee=b.ngwee, wh=b.wh)), reply
    assert all(x in reply for x in (format_money(b.ngwee), format_energy(b.wh))), reply


async def _statement_user(world: World, language: str) -> User:
    user = await world.new_user(language, "Kunda Zulu")
    await world.platform.clusters.buy(buyer=user, cluster_id="lsk-kabulonga-micro", wh=2000, operation_id="t:s1")
    mwila = await world.user(MWILA)
    await world.platform.trading.trade(
        seller=mwila, buyer_phone=user.phone, wh=500, price_ngwee_per_kwh=0, operation_id="t:s2"
    )
    return user


def today(world: World) -> str:
    # Dates are shown in Zambian time (UTC+2): a purchase at 23:00 UTC is on the next day's line.
    return local_text(world.platform.clock.now_us(), world.platform.config.local_utc_offset_s, "%d/%m")


def statement_line(world: World, language: str, key: str, **params: object) -> str:
    """One mini-statement line as the user reads it: today's date, then what happened."""
    return world.t(language, "statement.item", when=today(world), what=world.t(language, key, **params))


async def read_statement(world: World, user: User) -> tuple[Phone, str]:
    """Dial, open the balance, then the mini-statement: the phone and its first page."""
    language = str(user.language)
    phone = await dial_home(world, user)
    await choose(world, phone, language, "home.balance")
    return phone, await choose(world, phone, language, "wallet.statement")


async def test_mini_statement(world: World, language: str) -> None:
    user = await _statement_user(world, language)
    _, reply = await read_statement(world, user)

    expected = [
        statement_line(world, language, "stmt.gift_in", wh=500, name="Mwila B."),
        # A cluster's name is cut to whole words that fit, so a screen still shows three lines.
        statement_line(world, language, "stmt.cluster", wh=2000, name="Kabulonga", amount="-K2.30"),
        statement_line(world, language, "stmt.bonus", amount="+K5.00"),
    ]
    assert lines(reply) == [world.t(language, "statement.title"), *expected, world.t(language, "nav.back_home")], (
        f"statement lines differ:\n{reply}\nexpected {expected}"
    )
    if language == "en":
        day = today(world)
        assert expected == [
            f"{day} Gift 0.5 kWh from Mwila B.",
            f"{day} Bought 2 kWh, Kabulonga -K2.30",
            f"{day} Welcome bonus +K5.00",
        ]


async def test_mini_statement_shows_an_accepted_offer_once_with_whom(world: World, language: str) -> None:
    seller = await _seller_with_energy(world, language)  # Chola Mumba: 3 kWh from Kitwe Industrial Solar Park
    buyer = await world.new_user(language, "Bupe Phiri")
    offers = world.platform.offers
    sale = await offers.offer(seller=seller, buyer_phone=buyer.phone, wh=1000, price_ngwee_per_kwh=120)
    await offers.accept(buyer=buyer, offer_id=sale.id)
    declined = await offers.offer(seller=seller, buyer_phone=buyer.phone, wh=500, price_ngwee_per_kwh=120)
    await offers.decline(buyer=buyer, offer_id=declined.id)
    await offers.offer(seller=seller, buyer_phone=buyer.phone, wh=200, price_ngwee_per_kwh=120)  # still open

    bonus = statement_line(world, language, "stmt.bonus", amount="+K5.00")
    for user, expected in (
        (buyer, [statement_line(world, language, "stmt.bought", wh=1000, name="Chola M.", amount="-K1.20"), bonus]),
        (
            seller,
            [
                statement_line(world, language, "stmt.sold", wh=1000, name="Bupe P.", amount="+K1.20"),
                statement_line(world, language, "stmt.cluster", wh=3000, name="Kitwe", amount="-K3.15"),
                bonus,
            ],
        ),
    ):
        _, reply = await read_statement(world, user)
        # One line for the sale (energy and payment together), none for the declined or the open offer.
        title, nav = world.t(language, "statement.title"), world.t(language, "nav.back_home")
        assert lines(reply) == [title, *expected, nav], f"{user.name}'s statement:\n{reply}\nexpected {expected}"


async def test_every_statement_page_shows_at_least_three_lines(world: World, language: str) -> None:
    user = await world.new_user(language, "Kasonde Chilufya-Mwansa")
    giver = await world.new_user(language, "Bartholomew Kapembwa-Siame")
    for i, cluster in enumerate(["lsk-chelstone-solar", "kbw-campus-solar", "cb-kitwe-solar-park"] * 2):
        await world.platform.clusters.buy(buyer=giver, cluster_id=cluster, wh=500, operation_id=f"t:p{i}")
    for i in range(4):
        await world.platform.trading.trade(
            seller=giver, buyer_phone=user.phone, wh=125 * (i + 1), price_ngwee_per_kwh=0, operation_id=f"t:g{i}"
        )
        await world.platform.clusters.buy(buyer=user, cluster_id="lsk-chelstone-solar", wh=250, operation_id=f"t:b{i}")

    # Long names on every line: they are shortened rather than pushing a line off the page.
    more = world.t(language, "nav.more")
    for who in (user, giver):
        phone, page = await read_statement(world, who)
        shown = 0
        while True:
            body = lines(page)[1:-1]  # between the title and the navigation line
            items = [line for line in body if line != more]
            assert len(items) >= 3 or more not in body, f"a page with fewer than three lines:\n{page}"
            shown += len(items)
            if more not in body:
                break
            page = await phone.send("98")
        assert shown == (9 if who is user else 11), f"{who.name}: every operation once, {shown} shown"


async def test_carbon_report(world: World, language: str) -> None:
    user = await _statement_user(world, language)
    phone = await dial_home(world, user)
    await choose(world, phone, language, "home.balance")
    reply = await choose(world, phone, language, "wallet.carbon")

    report = await world.platform.carbon.for_user(user)
    assert (report.renewable_wh, report.co2_grams, report.car_km, report.trees_tenths) == (2500, 2000, 8, 0)
    # 8 km is worth saying; no whole tree yet, so none is shown. A note to read: 0 back, 00 home.
    text = world.t(language, "carbon.report_km", wh=report.renewable_wh, kg=report.co2_grams, km=report.car_km)
    expected = "CON " + text + "\n" + world.t(language, "nav.back_home")
    assert reply == expected, f"carbon screen cut or wrong:\n{reply!r}\nexpected\n{expected!r}"
    assert all(x in reply for x in ("2.5 kWh", "2.0 kg", "8 km")), reply
    assert (await phone.send("0")).startswith("CON " + world.t(language, "wallet.balance", ngwee=270, wh=2500))


async def test_carbon_after_an_accepted_offer_counts_the_energy_once(world: World, language: str) -> None:
    seller = await _seller_with_energy(world, language)  # 3 kWh from a cluster
    buyer = await world.new_user(language, "Mapalo Phiri")
    offer = await world.platform.offers.offer(seller=seller, buyer_phone=buyer.phone, wh=1000, price_ngwee_per_kwh=120)
    await world.platform.offers.accept(buyer=buyer, offer_id=offer.id)

    # Each screen shows the energy the person now holds: the buyer 1 kWh (not the
    # reservation and its settlement, 2 kWh), the seller the 2 kWh left (not 1 kWh).
    for user, wh, kg in ((buyer, 1000, "0.8 kg"), (seller, 2000, "1.6 kg")):
        assert (await world.platform.wallet.balances(user)).wh == wh
        phone = await dial_home(world, user)
        await choose(world, phone, language, "home.balance")
        reply = await choose(world, phone, language, "wallet.carbon")
        for shown in (format_energy(wh), kg):
            assert re.search(rf"(?<![0-9.]){re.escape(shown)}", reply), f"{user.name} should read {shown}:\n{reply}"


# --- buying from a cluster -----------------------------------------------------------


async def test_buy_energy_from_a_cluster(world: World, language: str) -> None:
    region, name, cluster_id, price = KABULONGA
    # Priced flat at its listed price, so the numbers are exact; the quote at the price of the hour, its
    # lifeline part and its expiry: tests/e2e/test_market_ussd_prices.py.
    assert await flat_price(world.platform, cluster_id) == price
    user = await world.new_user(language, "Mapalo Phiri")
    before = await world.platform.clusters.get(cluster_id)
    phone = await dial_home(world, user)

    reply = await go_to_kwh(world, phone, language, region, name)
    assert lines(reply)[0] == world.t(
        language, "buy.kwh", cluster_name=name, price=price, available=before.available_wh
    ), reply
    reply = await phone.send("2.5")
    cost = cost_of_energy(2500, price)
    assert cost == 288
    assert lines(reply)[0] == world.t(language, "buy.confirm", wh=2500, cluster_name=name, cost=cost), reply
    receipt = await phone.send(DEMO_PIN)

    assert len(phone.replies) <= 6, phone.replies
    assert receipt.startswith("END "), receipt
    ref = reference_in(receipt)
    assert receipt == "END " + world.t(
        language, "buy.receipt", wh=2500, cost=cost, ref=ref, ngwee=500 - cost, bal_wh=2500
    )
    b = await world.platform.wallet.balances(user)
    assert (b.ngwee, b.wh) == (500 - cost, 2500)
    after = await world.platform.clusters.get(cluster_id)
    assert after.available_wh == before.available_wh - 2500
    rows = await outbox(world, user.phone, "sms.cluster_purchase")
    assert len(rows) == 1, rows
    message = rows[0].message
    assert str(message.language) == language
    assert (message.params["ref"], message.params["wh"], message.params["ngwee"]) == (ref, 2500, cost)
    sms = await world.sms_containing(user.phone, ref[:5] + "-" + ref[5:])
    assert sms == world.t(language, "sms.cluster_purchase", **message.params), "the SMS is in the buyer's language"
    assert all(x in sms for x in (name, "2.5 kWh")), sms


# --- selling and sending --------------------------------------------------------------


async def _seller_with_energy(world: World, language: str, wh: int = 3000) -> User:
    user = await world.new_user(language, "Chola Mumba")
    await world.platform.clusters.buy(buyer=user, cluster_id="cb-kitwe-solar-park", wh=wh, operation_id="t:seller")
    return user


async def _counterpart(world: World, language: str) -> User:
    """The demo user Mwila, speaking the given language."""
    mwila = await world.user(MWILA)
    return await world.platform.users.change_language(mwila, language)


async def test_sell_energy_is_an_offer_the_buyer_accepts(world: World, language: str) -> None:
    seller = await _seller_with_energy(world, language)
    buyer_language = other_language(language)
    buyer = await _counterpart(world, buyer_language)
    seller_before = await world.platform.wallet.balances(seller)
    buyer_before = await world.platform.wallet.balances(buyer)
    phone = await dial_home(world, seller)

    reply = await choose(world, phone, language, "home.sell")
    assert lines(reply)[0] == world.t(language, "sell.phone"), reply
    reply = await phone.send("0977 123 456")
    assert lines(reply)[0] == world.t(language, "sell.kwh", have_wh=3000), reply
    reply = await phone.send("1.5")
    # The market price is guidance only: no numbered shortcuts, whatever is typed is the price.
    nav = world.t(language, "nav.back_home")
    assert lines(reply) == [world.t(language, "sell.price", market=120), nav], reply
    reply = await phone.send("1")  # K1.00/kWh, not "option 1"
    # The buyer is named by first name and last initial only.
    assert buyer.short_name == "Mwila B."
    confirm = world.t(language, "sell.confirm", wh=1500, counterpart_name="Mwila B.", counterpart=buyer.phone, cost=150)
    assert lines(reply)[0] == confirm, reply
    assert buyer.name not in reply, reply
    receipt = await phone.send(DEMO_PIN)

    assert len(phone.replies) == 6, phone.replies
    ref = reference_in(receipt)
    assert receipt == "END " + world.t(
        language, "sell.receipt", wh=1500, counterpart_name="Mwila B.", cost=150, ref=ref, hours=24
    )
    # Nothing has been paid yet: the seller's energy is reserved, the buyer's money untouched.
    s, b = await world.platform.wallet.balances(seller), await world.platform.wallet.balances(buyer)
    assert (s.ngwee, s.wh) == (seller_before.ngwee, seller_before.wh - 1500)
    assert (b.ngwee, b.wh) == (buyer_before.ngwee, buyer_before.wh)
    shown = ref[:5] + "-" + ref[5:]
    offer_sms = await world.sms_containing(buyer.phone, shown)
    [offered] = await outbox(world, buyer.phone, "sms.offer_received")
    assert offer_sms == world.t(
        buyer_language, "sms.offer_received", shortcode=world.settings.shortcode, **offered.message.params
    )

    # The buyer dials, finds the offer and accepts it with their own PIN.
    buyer_phone = await dial_home(world, buyer)
    reply = await choose(world, buyer_phone, buyer_language, "home.offers")
    assert lines(reply)[0] == world.t(buyer_language, "offers.title"), reply
    assert lines(reply)[1] == "1 " + world.t(buyer_language, "offers.item", name="Chola M.", wh=1500, cost=150), reply
    # One screen shows the offer and takes the PIN (or 2 to decline).
    reply = await buyer_phone.send("1")
    view = world.t(
        buyer_language,
        "offer.view",
        seller_name="Chola M.",
        seller_phone=seller.phone,
        wh=1500,
        cost=150,
        fee=0,
        total=150,
    )
    assert lines(reply) == [view, world.t(buyer_language, "nav.back_home")], reply
    assert "fee" not in reply.lower(), f"no fee is charged, so none is shown:\n{reply}"
    done = await buyer_phone.send(DEMO_PIN)
    assert len(buyer_phone.replies) == 4, buyer_phone.replies
    assert done == "END " + world.t(buyer_language, "offer.done", wh=1500, total=150, ref=ref)

    s, b = await world.platform.wallet.balances(seller), await world.platform.wallet.balances(buyer)
    assert (s.ngwee - seller_before.ngwee, s.wh - seller_before.wh) == (150, -1500)
    assert (b.ngwee - buyer_before.ngwee, b.wh - buyer_before.wh) == (-150, 1500)
    sold = await outbox(world, seller.phone, "sms.energy_sold")
    bought = await outbox(world, buyer.phone, "sms.energy_bought")
    assert (len(sold), len(bought)) == (1, 1), (sold, bought)
    assert str(sold[0].message.language) == language
    assert str(bought[0].message.language) == buyer_language
    assert bought[0].message.params["fee"] == 0
    bought_sms = world.t(buyer_language, "sms.energy_bought", **bought[0].message.params)
    assert "fee" not in (await world.sms_containing(buyer.phone, bought_sms)).lower(), bought_sms
    assert sold[0].message.params["ref"] == bought[0].message.params["ref"] == ref
    seller_sms = await world.sms_containing(seller.phone, shown)
    assert seller_sms == world.t(language, "sms.energy_sold", **sold[0].message.params)


async def test_a_declined_offer_returns_the_energy(world: World, language: str) -> None:
    seller = await _seller_with_energy(world, language)
    buyer = await _counterpart(world, language)
    offer = await world.platform.offers.offer(seller=seller, buyer_phone=buyer.phone, wh=1000, price_ngwee_per_kwh=150)
    money_before = (await world.platform.wallet.balances(buyer)).ngwee
    phone = await dial_home(world, buyer)
    await choose(world, phone, language, "home.offers")
    view = await phone.send("1")
    assert lines(view)[0] == world.t(
        language, "offer.view", seller_name="Chola M.", seller_phone=seller.phone, wh=1000, cost=150, fee=0, total=150
    ), view
    reply = await phone.send("2")  # decline, on the same screen that takes the PIN
    assert reply == "END " + world.t(language, "offer.declined", seller_name="Chola M.")
    assert (await world.platform.wallet.balances(buyer)).ngwee == money_before, "declining costs nothing"
    assert (await world.platform.wallet.balances(seller)).wh == 3000
    assert await outbox(world, seller.phone, "sms.offer_declined")
    assert await world.platform.offers.open_offers(buyer) == []
    assert offer.reference


async def test_send_energy_as_a_gift(world: World, language: str) -> None:
    seller = await _seller_with_energy(world, language)
    buyer_language = other_language(language)
    buyer = await _counterpart(world, buyer_language)
    seller_before = await world.platform.wallet.balances(seller)
    buyer_before = await world.platform.wallet.balances(buyer)
    phone = await dial_home(world, seller)

    reply = await choose(world, phone, language, "home.send")
    assert lines(reply)[0] == world.t(language, "send.phone"), reply
    reply = await phone.send("0977123456")
    assert lines(reply)[0] == world.t(language, "sell.kwh", have_wh=3000), reply
    reply = await phone.send("0.75")  # a gift has no price screen
    confirm = world.t(language, "send.confirm", wh=750, counterpart_name="Mwila B.", counterpart=buyer.phone)
    assert lines(reply)[0] == confirm, reply
    receipt = await phone.send(DEMO_PIN)

    assert len(phone.replies) == 5, phone.replies
    ref = reference_in(receipt)
    assert receipt == "END " + world.t(language, "send.receipt", wh=750, counterpart_name="Mwila B.", ref=ref)
    s, b = await world.platform.wallet.balances(seller), await world.platform.wallet.balances(buyer)
    assert (s.ngwee, s.wh) == (seller_before.ngwee, seller_before.wh - 750), "a gift costs the sender no money"
    assert (b.ngwee, b.wh) == (buyer_before.ngwee, buyer_before.wh + 750), "a gift costs the receiver no money"
    sent = await outbox(world, seller.phone, "sms.energy_sent")
    received = await outbox(world, buyer.phone, "sms.energy_received")
    assert (len(sent), len(received)) == (1, 1), (sent, received)
    assert (str(sent[0].message.language), str(received[0].message.language)) == (language, buyer_language)
    assert await outbox(world, seller.phone, "sms.energy_sold") == []
    shown = ref[:5] + "-" + ref[5:]
    assert await world.sms_containing(seller.phone, shown) == world.t(
        language, "sms.energy_sent", **sent[0].message.params
    )
    assert await world.sms_containing(buyer.phone, shown) == world.t(
        buyer_language, "sms.energy_received", **received[0].message.params
    )


async def _refused_counterpart(
    world: World, language: str, typed: str, seller: User | None = None
) -> tuple[User, Phone, str]:
    seller = seller or await _seller_with_energy(world, language)
    phone = await dial_home(world, seller)
    await choose(world, phone, language, "home.sell")
    # Refused as soon as the number is entered, before kWh and price are asked.
    return seller, phone, await phone.send(typed)


async def test_unknown_counterpart_is_refused_with_a_reason(world: World, language: str) -> None:
    stranger = unique_phone()
    seller, _, reply = await _refused_counterpart(world, language, "0" + stranger[4:])

    assert reply.startswith("CON "), reply
    reason = world.t(language, "err.counterparty_not_found", counterpart=stranger)
    assert lines(reply)[:2] == [reason, world.t(language, "sell.phone")], reply
    assert "\n" not in reason
    assert (await world.platform.wallet.balances(seller)).wh == 3000
    assert await outbox(world, seller.phone, "sms.energy_sold") == []


async def test_own_number_is_refused_with_a_reason(world: World, language: str) -> None:
    seller = await _seller_with_energy(world, language)
    _, _, reply = await _refused_counterpart(world, language, "0" + seller.phone[4:], seller)

    assert reply.startswith("CON "), reply
    assert lines(reply)[:2] == [world.t(language, "err.self_trade"), world.t(language, "sell.phone")], reply
    assert (await world.platform.wallet.balances(seller)).wh == 3000


# --- my account ---------------------------------------------------------------------


async def test_profile(world: World, language: str) -> None:
    user = await world.new_user(language, "Natasha Mwale")
    phone = await dial_home(world, user)
    await choose(world, phone, language, "home.account")
    reply = await choose(world, phone, language, "account.profile")

    since = local_text(user.created_at, world.platform.config.local_utc_offset_s, "%d/%m/%Y")
    expected = world.t(
        language, "profile.view", name=user.name, phone=user.phone, language_name=LANGUAGE_NAMES[language], since=since
    )
    # A note to read: it stays open with 0 back and 00 home.
    assert reply == "CON " + expected + "\n" + world.t(language, "nav.back_home")
    assert "0" + user.phone[4:] in reply
    assert lines(await phone.send("0"))[0] == world.t(language, "account.title")


async def test_change_language(world: World, language: str) -> None:
    target = other_language(language)
    user = await world.new_user(language, "Lubinda Sakala")
    phone = await dial_home(world, user)
    await choose(world, phone, language, "home.account")
    reply = await choose(world, phone, language, "account.language")
    assert lines(reply)[0] == world.t(language, "account.choose_language"), reply
    reply = await choose(world, phone, language, f"lang.{target}")

    assert reply == "END " + world.t(target, "account.language_done"), "the confirmation is in the new language"
    assert str((await world.user(user.phone)).language) == target
    again = world.phone(user.phone)
    home = await again.dial()
    assert lines(home)[0] == world.t(target, "home.title", first_name="Lubinda"), home
    assert world.t(target, "home.balance") in home, home
    reply = await choose(world, again, target, "home.balance")
    assert reply.startswith("CON " + world.t(target, "wallet.balance", ngwee=500, wh=0)), reply


async def test_change_pin(world: World, language: str) -> None:
    user = await world.new_user(language, "Musonda Kapata")
    phone = await dial_home(world, user)
    await choose(world, phone, language, "home.account")
    reply = await choose(world, phone, language, "account.pin")
    assert lines(reply)[0] == world.t(language, "pin.new"), "the new PIN is asked first"
    reply = await phone.send(NEW_PIN)
    assert lines(reply)[0] == world.t(language, "pin.new_again"), reply
    reply = await phone.send(NEW_PIN)
    assert lines(reply)[0] == world.t(language, "pin.old"), "the current PIN is asked last, to confirm"
    reply = await phone.send(DEMO_PIN)
    assert reply == "END " + world.t(language, "pin.done")
    await world.platform.users.verify_pin(user, NEW_PIN)
    changed = await outbox(world, user.phone, "sms.pin_changed")
    assert [str(r.message.language) for r in changed] == [language], "an SMS on every PIN change"
    assert await world.sms_containing(user.phone, world.t(language, "sms.pin_changed"))

    again = await dial_home(world, user)
    await choose(world, again, language, "home.account")
    await choose(world, again, language, "account.pin")
    await again.send("8461", "8461")
    reply = await again.send(DEMO_PIN)
    assert lines(reply)[:2] == [world.t(language, "err.wrong_pin", attempts_left=2), world.t(language, "pin.old")], (
        "the old PIN must no longer work"
    )
    reply = await again.send(NEW_PIN)
    assert reply == "END " + world.t(language, "pin.done"), "the new PIN must work"
    await world.platform.users.verify_pin(user, "8461")
    assert len(await outbox(world, user.phone, "sms.pin_changed")) == 2


async def test_change_pin_with_two_different_new_pins_asks_again(world: World, language: str) -> None:
    user = await world.new_user(language, "Musonda Kapata")
    phone = await dial_home(world, user)
    await choose(world, phone, language, "home.account")
    await choose(world, phone, language, "account.pin")
    await phone.send(NEW_PIN)
    reply = await phone.send("8461")

    assert lines(reply)[:2] == [world.t(language, "err.pin_mismatch"), world.t(language, "pin.new")], reply
    await phone.send("3816", "3816")
    reply = await phone.send(DEMO_PIN)
    assert reply == "END " + world.t(language, "pin.done")
    await world.platform.users.verify_pin(user, "3816")


async def test_wrong_pin_three_times_locks_money_actions(world: World, language: str) -> None:
    user = await world.new_user(language, "Mutinta Hamoonga")
    phone = await dial_home(world, user)
    await choose(world, phone, language, "home.account")
    await choose(world, phone, language, "account.pin")
    reply = await phone.send(NEW_PIN, NEW_PIN)
    assert lines(reply)[0] == world.t(language, "pin.old"), reply

    reply = await phone.send(WRONG_PIN)
    assert lines(reply)[0] == world.t(language, "err.wrong_pin", attempts_left=2), reply
    reply = await phone.send(WRONG_PIN)
    assert lines(reply)[0] == world.t(language, "err.wrong_pin", attempts_left=1), reply
    assert lines(reply)[0] == ONE_TRY_LEFT[language], f"one try left is singular:\n{reply}"
    reply = await phone.send(WRONG_PIN)
    # A note with the time left (the first lock: 30 minutes), not the end of the session.
    first_lock = world.settings.pin_lock_minutes[0]
    locked = "CON " + world.t(language, "lock.minutes", minutes=first_lock) + "\n" + world.t(language, "nav.back_home")
    assert reply == locked

    stored = await world.user(user.phone)
    lock_s = (stored.pin_locked_until - world.platform.clock.now_us()) / 1_000_000
    assert 0 < lock_s <= first_lock * 60, f"the lock is kept in the database: {stored}"
    # A fresh dial does not reset the lock: it is kept in the database, not the session,
    # and buying says so at once, before anything is typed.
    again = await dial_home(world, user)
    assert await choose(world, again, language, "home.buy") == locked
    b = await world.platform.wallet.balances(user)
    assert (b.ngwee, b.wh) == (500, 0)
    assert await outbox(world, user.phone, "sms.cluster_purchase") == []
    assert await outbox(world, user.phone, "sms.pin_changed") == [], "the PIN was not changed"


# --- navigation ---------------------------------------------------------------------


async def test_back_goes_to_the_previous_screen(world: World, language: str) -> None:
    user = await world.new_user(language, "Chilufya Bwalya")
    phone = await dial_home(world, user)
    regions = await choose(world, phone, language, "home.buy")
    clusters = await phone.send(option(regions, "Lusaka"))
    kwh = await phone.send(option(clusters, "Kabulonga Micro-Grid"))
    assert world.t(language, "nav.back_home") in kwh

    assert await phone.send("0") == clusters
    assert await phone.send("0") == regions


async def test_back_from_a_first_level_screen_goes_home(world: World, language: str) -> None:
    user = await world.new_user(language, "Chilufya Bwalya")
    phone = await dial_home(world, user)
    home = phone.last
    wallet = await choose(world, phone, language, "home.balance")
    assert world.t(language, "nav.back_home") in wallet, "the wallet screen offers '0 Back'"

    reply = await phone.send("0")
    assert reply == home, (
        f"'0' (shown as Back) on the wallet screen should return to the main menu it came from; got:\n{reply}"
    )


async def test_back_after_registration_never_reopens_registration(world: World, language: str) -> None:
    phone = world.phone()
    await phone.dial()
    await phone.send(option(phone.last, world.t("en", f"lang.{language}")), "Mwape Tembo", NEW_PIN, NEW_PIN)
    home = phone.last
    await choose(world, phone, language, "home.balance")

    reply = await phone.send("0")
    assert world.t(language, "reg.pin_again") not in reply, (
        "'0' on the wallet screen right after registering went back into registration "
        f"('Enter the same PIN again'): {reply!r}"
    )
    assert reply == home


async def test_double_zero_goes_home_from_deep_in_a_journey(world: World, language: str) -> None:
    user = await world.new_user(language, "Mulenga Chisanga")
    phone = await dial_home(world, user)
    home = phone.last
    await go_to_kwh(world, phone, language, "Lusaka", "Kabulonga Micro-Grid")
    await phone.send("1")  # now on the PIN screen

    assert await phone.send("00") == home
    assert (await go_to_kwh(world, phone, language, "Kabwe", "Kabwe Campus Solar Co-op")).startswith("CON ")


async def test_more_pages_through_a_long_list(world: World, language: str) -> None:
    names = [f"Kasama Solar Scheme {i:02d}" for i in range(1, 15)]
    for i, name in enumerate(names, 1):
        await world.platform.clusters.create(
            cluster_id=f"nrt-kasama-{i:02d}",
            name=name,
            kind=ClusterKind.MICRO,
            region="Northern",
            capacity_wh=100_000 + i,
            price_ngwee_per_kwh=100 + i,
        )
    user = await world.new_user(language, "Bupe Kasonde")
    phone = await dial_home(world, user)
    regions = await choose(world, phone, language, "home.buy")
    page = await phone.send(option(regions, "Northern"))

    more = world.t(language, "nav.more")
    seen: dict[int, str] = {}
    pages = [page]
    while True:
        for line in lines(page):
            head, _, rest = line.partition(" ")
            if head.isdigit() and rest.startswith("Kasama"):
                seen[int(head)] = rest
        if more not in lines(page):
            break
        assert len(pages) < 10, "paging never ends"
        page = await phone.send("98")
        pages.append(page)

    assert len(pages) >= 2, f"14 clusters should not fit one screen:\n{pages[0]}"
    assert sorted(seen) == list(range(1, 15)), f"numbers must run on across pages: {sorted(seen)}"
    assert [seen[i].split(" K")[0] for i in range(1, 15)] == names
    # pick an item shown on the second page by its global number
    second = pages[1]
    pick = next(int(x.split(" ")[0]) for x in lines(second) if x.split(" ")[0].isdigit() and "Kasama" in x)
    assert pick > 1
    await phone.send("00")
    await choose(world, phone, language, "home.buy")
    assert await phone.send(option(phone.last, "Northern"), "98") == second
    reply = await phone.send(str(pick))
    assert lines(reply)[0].startswith(names[pick - 1] + ":"), f"picked #{pick} on page 2, got:\n{reply}"


async def test_three_invalid_inputs_end_politely(world: World, language: str) -> None:
    user = await world.new_user(language, "Mwaka Daka")
    phone = await dial_home(world, user)

    reply = await phone.send("9")
    assert lines(reply)[0] == world.t(language, "err.invalid_choice"), reply
    await phone.send("x")
    await phone.send("1")  # a valid choice resets the count
    reply = await phone.send("9")
    assert reply.startswith("CON "), "a valid input in between resets the invalid count"
    await phone.send("hello")
    reply = await phone.send("55")
    assert reply == "END " + world.t(language, "err.too_many_invalid")


# --- resuming a dropped session -----------------------------------------------------------


async def _dropped_mid_buy(world: World, language: str) -> tuple[User, str, str]:
    """Start buying, enter the kWh, and lose the connection on the PIN screen: the kWh and PIN screens."""
    user = await world.new_user(language, "Chanda Mwila")
    await flat_price(world.platform, KABULONGA[2])  # the listed K1.15 at every hour: the cost is exact
    phone = await dial_home(world, user)
    kwh_screen = await go_to_kwh(world, phone, language, "Lusaka", "Kabulonga Micro-Grid")
    pin_screen = await phone.send("1.5")
    assert lines(pin_screen)[0] == world.t(
        language, "buy.confirm", wh=1500, cluster_name="Kabulonga Micro-Grid", cost=cost_of_energy(1500, 115)
    )
    return user, kwh_screen, pin_screen


async def _offer(world: World, user: User, language: str) -> Phone:
    phone = world.phone(user.phone)
    offer = await phone.dial()
    assert offer.startswith("CON "), offer
    assert world.t("en", "resume.offer") in offer or world.t(language, "resume.offer") in offer, (
        f"no resume offer after a dropped purchase:\n{offer}"
    )
    return phone


async def test_resume_offer_speaks_the_users_language(world: World, language: str) -> None:
    user, _, _ = await _dropped_mid_buy(world, language)
    phone = await _offer(world, user, language)
    offer = phone.last
    assert lines(offer) == [
        world.t(language, "resume.offer"),
        "1 " + world.t(language, "opt.yes"),
        "2 " + world.t(language, "opt.no"),
    ], f"the resume offer to a {language} user is not in {language}:\n{offer}"


async def test_resume_continues_before_the_pin_screen_with_the_choices_kept(world: World, language: str) -> None:
    user, kwh_screen, pin_screen = await _dropped_mid_buy(world, language)
    phone = await _offer(world, user, language)

    # Never back onto a PIN screen: the kWh question, with the region and cluster kept.
    assert await phone.send("1") == kwh_screen, "continue should ask the kWh again, for the same cluster"
    assert await phone.send("1.5") == pin_screen, "then the same summary and PIN screen as before the drop"
    receipt = await phone.send(DEMO_PIN)
    ref = reference_in(receipt)
    b = await world.platform.wallet.balances(user)
    assert (b.ngwee, b.wh) == (500 - 173, 1500)
    assert len(await outbox(world, user.phone, "sms.cluster_purchase")) == 1
    assert ref

    # never offered after the purchase completed
    await dial_home(world, user)


async def test_resume_start_over_goes_home_and_forgets(world: World, language: str) -> None:
    user, _, _ = await _dropped_mid_buy(world, language)
    phone = await _offer(world, user, language)

    reply = await phone.send("2")
    assert lines(reply)[0] == world.t(language, "home.title", first_name="Chanda"), reply
    await dial_home(world, user)  # the discarded session is not offered again
    b = await world.platform.wallet.balances(user)
    assert (b.ngwee, b.wh) == (500, 0)


async def test_no_resume_offer_after_a_completed_purchase(world: World, language: str) -> None:
    user = await world.new_user(language, "Inonge Lungu")
    phone = await dial_home(world, user)
    await go_to_kwh(world, phone, language, "Kabwe", "Kabwe Campus Solar Co-op")
    await phone.send("1")
    assert (await phone.send(DEMO_PIN)).startswith("END ")

    await dial_home(world, user)


async def test_no_resume_offer_after_a_purchase_stopped_by_a_pin_lock(world: World, language: str) -> None:
    user = await world.new_user(language, "Inonge Lungu")
    phone = await dial_home(world, user)
    await go_to_kwh(world, phone, language, "Kabwe", "Kabwe Campus Solar Co-op")
    await phone.send("1")
    reply = await phone.send(WRONG_PIN, WRONG_PIN, WRONG_PIN)
    locked = "CON " + world.t(language, "lock.minutes", minutes=30) + "\n" + world.t(language, "nav.back_home")
    assert reply == locked

    # Hung up on the lock note: nothing was cut off, so the next dial goes home, and buying says why not.
    again = await dial_home(world, user)
    assert await choose(world, again, language, "home.buy") == locked
