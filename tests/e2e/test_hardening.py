"""Hardening before money flows in: abuse limits, PIN handling and the defects a new user hit, over HTTP.

Each test drives the app the way Africa's Talking does and asserts what the
person on the phone (or the owner of a wallet) would notice.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest

from engine.identity.model import LOCKED_UNTIL_RESET, User
from engine.kernel.clock import MICROS_PER_SECOND
from engine.kernel.errors import PinLocked, WrongPin
from engine.notifications.model import OutboxRow
from simulator.protocol import new_session_id
from tests.e2e.conftest import World, running_app
from tests.e2e.journeys import MWILA, choose, dial_home, go_to_kwh, lines
from tests.e2e.screen_log import ScreenLog
from tests.support.flat_prices import flat_price
from tests.support.gateway import Phone, check_reply, reference_in
from tests.support.redis import redis_url
from ussd_server.appkeys import KDF_POOL, SESSIONS
from ussd_server.demo import DEMO_PIN
from ussd_server.sessions.store import SessionStore

WRONG = "9173"
NEW_PIN = "4826"
CHELSTONE = ("Lusaka", "Chelstone Neighbourhood Solar", "lsk-chelstone-solar", 120)


@pytest.fixture(params=["redis", "memory"])
def sessions(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def limited(
    request: pytest.FixtureRequest, database_url: str, sessions: str, screen_log: ScreenLog
) -> AsyncIterator[World]:
    """An app with small limits, sessions (and so rate counters) in Redis or in process memory."""
    env = {
        "DATABASE_URL": database_url,
        "HOPS_PER_MINUTE": "6" if request.node.get_closest_marker("hop_limit") else "60",
        "PIN_CHECKS_PER_MINUTE": "2",
        "GIFTS_PER_DAY": "1",
        "LOOKUPS_PER_DAY": "2",
    }
    if sessions == "redis":
        env["REDIS_URL"] = redis_url()
    async with running_app(env, screen_log) as world:
        yield world


async def outbox(world: World, user: User, template: str) -> list[OutboxRow]:
    return [
        r for r in await world.platform.store.outbox.list_outbox(recipient=user.phone) if r.message.template == template
    ]


async def first_hop(phone: Phone, text: str) -> str:
    """A new session whose first hop already carries inputs (a dial like *384*2025*2*1#)."""
    phone.session_id = new_session_id()
    phone.gateway.session_ids.add(phone.session_id)
    return check_reply(await phone.raw(text), f"first hop {text[:40]!r}")


async def with_energy(world: World, language: str = "en", name: str = "Chola Mumba", wh: int = 3000) -> User:
    user = await world.new_user(language, name)
    if wh:
        await world.platform.clusters.buy(buyer=user, cluster_id="cb-kitwe-solar-park", wh=wh, operation_id=name)
    return user


# --- per-phone limits -----------------------------------------------------------------


@pytest.mark.hop_limit
async def test_a_phone_past_its_hop_limit_is_told_when_to_try_again(limited: World) -> None:
    user = await limited.new_user("en", "Bupe Zulu")
    phone = await dial_home(limited, user)
    await phone.send("1", "0", "1", "0", "1")  # six hops in all: the limit
    assert phone.last.startswith("CON "), phone.last
    refused = await phone.send("0")
    match = re.fullmatch(r"END Too many requests\. Try again in (\d+) seconds?\.", refused)
    assert match, refused
    assert 1 <= int(match.group(1)) <= 60
    other = await dial_home(limited, await limited.new_user("en", "Other Person"))
    assert other.last.startswith("CON "), "another phone is not held back by this one"


async def test_a_phone_past_its_pin_budget_is_told_to_wait_and_loses_no_try(limited: World) -> None:
    user = await limited.new_user("en", "Mapalo Phiri")
    await flat_price(limited.platform, CHELSTONE[2])  # its listed K1.20 at every hour: the cost is exact
    phone = await dial_home(limited, user)
    await go_to_kwh(limited, phone, "en", CHELSTONE[0], CHELSTONE[1])
    await phone.send("0.5")
    assert (await phone.send(WRONG)).startswith("CON " + limited.t("en", "err.wrong_pin", attempts_left=2))
    assert (await phone.send(WRONG)).startswith("CON " + limited.t("en", "err.wrong_pin", attempts_left=1))
    third = await phone.send(DEMO_PIN)
    assert re.match(r"CON Too many PIN tries\. Wait \d+ seconds?, then enter it again\.\n", third), third
    assert lines(third)[1] == limited.t("en", "buy.confirm", wh=500, cluster_name=CHELSTONE[1], cost=60), third
    stored = await limited.user(user.phone)
    assert (stored.pin_failures, stored.pin_locked_until) == (2, 0), "the refused check used no try"


# --- daily caps and sizes -----------------------------------------------------------------


async def test_a_used_up_gift_cap_is_said_before_anything_is_typed(limited: World) -> None:
    giver = await with_energy(limited)
    await limited.platform.trading.trade(seller=giver, buyer_phone=MWILA, wh=200, price_ngwee_per_kwh=0)
    phone = await dial_home(limited, giver)
    reply = await choose(limited, phone, "en", "home.send")
    assert reply == "CON " + limited.t("en", "cap.gifts", limit=1) + "\n" + limited.t("en", "nav.back_home")
    wrong = await phone.send("5")  # a wrong key re-shows the same words, not an empty cap
    assert lines(wrong)[:2] == [limited.t("en", "err.invalid_choice"), limited.t("en", "cap.gifts", limit=1)], wrong
    assert (await phone.send("0")).startswith("CON " + limited.t("en", "home.title", first_name="Chola"))


async def test_lookups_of_other_numbers_are_capped_and_show_a_short_name(limited: World) -> None:
    seller = await with_energy(limited)
    phone = await dial_home(limited, seller)
    await choose(limited, phone, "en", "home.sell")
    shown = await phone.send("0955345678")  # Natasha Mulenga, a demo user
    assert lines(shown)[0] == limited.t("en", "sell.kwh", have_wh=3000)
    await phone.send("0")
    await phone.send("0966234567")  # the second lookup today
    await phone.send("0")
    capped = await phone.send("0977123456")
    assert lines(capped)[0] == limited.t("en", "cap.lookups", limit=2), capped
    confirm_name = await limited.platform.users.find("+260955345678")
    assert confirm_name is not None
    assert confirm_name.short_name == "Natasha M."


async def test_the_other_person_is_shown_by_first_name_and_initial_only(world: World) -> None:
    seller = await with_energy(world)
    phone = await dial_home(world, seller)
    await choose(world, phone, "en", "home.send")
    await phone.send("0977123456")  # Mwila Banda
    confirm = await phone.send("0.5")
    assert "Mwila B. 0977123456" in confirm, confirm
    assert "Banda" not in confirm, confirm


async def test_a_gift_below_the_minimum_is_refused_on_the_same_screen(world: World) -> None:
    giver = await with_energy(world)
    phone = await dial_home(world, giver)
    await choose(world, phone, "en", "home.send")
    await phone.send("0977123456")
    reply = await phone.send("0.05")
    assert lines(reply)[:2] == [
        world.t("en", "err.below_minimum", min_wh=100),
        world.t("en", "sell.kwh", have_wh=3000),
    ], reply


async def test_selling_with_no_energy_is_said_at_the_start(world: World) -> None:
    empty = await world.new_user("en", "Mutinta Hamoonga")
    phone = await dial_home(world, empty)
    for key, text in (("home.sell", "sell.no_energy"), ("home.send", "send.no_energy")):
        reply = await choose(world, phone, "en", key)
        assert reply == "CON " + world.t("en", text) + "\n" + world.t("en", "nav.back_home"), reply
        await phone.send("0")


# --- the price screen and offers ---------------------------------------------------------


async def test_typing_2_on_the_price_screen_asks_two_kwacha_never_makes_a_gift(world: World) -> None:
    seller = await with_energy(world)
    phone = await dial_home(world, seller)
    await choose(world, phone, "en", "home.sell")
    await phone.send("0977123456")
    price_screen = await phone.send("1")
    assert lines(price_screen)[0] == world.t("en", "sell.price", market=120)
    confirm = await phone.send("2")
    assert lines(confirm)[0] == world.t(
        "en", "sell.confirm", wh=1000, counterpart_name="Mwila B.", counterpart=MWILA, cost=200
    ), confirm
    receipt = await phone.send(DEMO_PIN)
    assert receipt.startswith("END Offer sent"), receipt
    [offer] = await world.platform.offers.open_offers(await world.user(MWILA))
    assert (offer.offer.price_ngwee_per_kwh, offer.offer.cost_ngwee) == (200, 200)
    assert (await world.platform.wallet.balances(await world.user(MWILA))).wh == 2000, "no energy was given away"


async def test_an_offer_is_accepted_in_four_replies_or_declined_on_the_same_screen(world: World) -> None:
    seller = await with_energy(world, name="Chipo Grace Phiri")
    buyer = await world.new_user("en", "Bwalya Mwansa")
    first = await world.platform.offers.offer(seller=seller, buyer_phone=buyer.phone, wh=1000, price_ngwee_per_kwh=130)
    phone = await dial_home(world, buyer)
    await choose(world, phone, "en", "home.offers")
    view = await phone.send("1")
    assert lines(view)[0] == world.t(
        "en", "offer.view", seller_name="Chipo P.", seller_phone=seller.phone, wh=1000, cost=130, fee=0, total=130
    ), view
    done = await phone.send(DEMO_PIN)
    assert len(phone.replies) == 4, phone.replies
    assert done == "END " + world.t("en", "offer.done", wh=1000, total=130, ref=first.reference)

    await world.platform.offers.offer(seller=seller, buyer_phone=buyer.phone, wh=500, price_ngwee_per_kwh=130)
    phone = await dial_home(world, buyer)
    await choose(world, phone, "en", "home.offers")
    await phone.send("1")
    declined = await phone.send("2")
    assert declined == "END " + world.t("en", "offer.declined", seller_name="Chipo P.")
    again = await phone.post_text(phone.text + "*1")  # more input on the ended session
    assert again == declined, "a repeated END keeps its values"


async def test_no_more_than_the_allowed_open_offers_to_one_buyer(world: World) -> None:
    seller = await with_energy(world)
    for _ in range(world.settings.max_open_offers_per_pair):
        await world.platform.offers.offer(seller=seller, buyer_phone=MWILA, wh=200, price_ngwee_per_kwh=120)
    phone = await dial_home(world, seller)
    await choose(world, phone, "en", "home.sell")
    await phone.send("0977123456")
    await phone.send("0.2")
    refused = await phone.send("1.20")
    assert lines(refused)[:2] == [
        world.t("en", "err.too_many_open_offers", max=3),
        world.t("en", "sell.phone"),
    ], refused


# --- sessions -----------------------------------------------------------------------------


async def test_an_ended_session_answers_its_end_to_any_later_input(world: World) -> None:
    phone = await dial_home(world, await world.new_user("en", "Kunda Zulu"))
    for _ in range(3):
        reply = await phone.send("9")
    assert reply == "END " + world.t("en", "err.too_many_invalid"), reply
    for text in (phone.text + "*1", phone.text + "*00", phone.text + "*1*1"):
        assert await phone.post_text(text) == reply


async def test_three_pin_mismatches_in_registration_end_the_session(world: World) -> None:
    phone = world.phone()
    await phone.dial()
    await phone.send("1", "Lubinda Sakala")
    for attempt in range(3):
        await phone.send(NEW_PIN)
        reply = await phone.send("7391")
        if attempt < 2:
            assert lines(reply)[0] == world.t("en", "err.pin_mismatch"), reply
    assert reply == "END " + world.t("en", "err.too_many_invalid"), reply
    assert await world.platform.users.find(phone.number) is None


async def test_a_dial_string_walks_a_few_inputs_and_never_takes_a_pin(database_url: str, screen_log: ScreenLog) -> None:
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url(), "DIAL_SHORTCUT_MAX_INPUTS": "10"}
    async with running_app(env, screen_log) as world:
        user = await world.new_user("en", "Mapalo Phiri")
        await flat_price(world.platform, CHELSTONE[2])  # its listed K1.20 at every hour: the cost is exact
        kdf = world.client.app[KDF_POOL]
        runs = kdf.runs
        # Buy, Lusaka, Chelstone, 1 kWh, then the PIN: the walk stops on the PIN screen and asks for it.
        shown = await first_hop(world.phone(user.phone), "2*1*1*1*" + DEMO_PIN)
        assert lines(shown)[0] == world.t("en", "buy.confirm", wh=1000, cluster_name=CHELSTONE[1], cost=120), shown
        assert (await world.platform.wallet.balances(user)).wh == 0, "nothing bought from a dial string"
        assert kdf.runs == runs, "no PIN was checked"

    async with running_app({"DATABASE_URL": database_url, "REDIS_URL": redis_url()}, screen_log) as world:
        user = await world.new_user("en", "Mapalo Phiri Two")
        await flat_price(world.platform, CHELSTONE[2])
        kdf = world.client.app[KDF_POOL]
        runs = kdf.runs
        long_text = "*".join(["2", "1", "1", "1", DEMO_PIN] * 130)  # ~1,700 characters of inputs
        reply = await first_hop(world.phone(user.phone), long_text)
        available = (await world.platform.clusters.get(CHELSTONE[2])).available_wh
        kwh = world.t("en", "buy.kwh", cluster_name=CHELSTONE[1], price=120, available=available)
        assert lines(reply)[0] == kwh, "three inputs walked (buy, region, cluster), no more"
        assert kdf.runs == runs, "no PIN was checked from a dial string"
        assert (await world.platform.wallet.balances(user)).wh == 0


async def test_a_shortcut_dial_goes_where_it_says_and_offers_no_resume(world: World) -> None:
    user = await world.new_user("en", "Temwani Banda")
    phone = await dial_home(world, user)
    await go_to_kwh(world, phone, "en", CHELSTONE[0], CHELSTONE[1])  # dropped with region and cluster chosen
    reply = await first_hop(world.phone(user.phone), "1")  # the first hop of *384*2025*1# carries "1"
    assert reply.startswith("CON " + world.t("en", "wallet.balance", ngwee=500, wh=0)), reply


async def test_a_resume_is_offered_only_for_a_money_flow_and_never_lands_on_a_pin(world: World) -> None:
    user = await world.new_user("en", "Natasha Phiri")
    await flat_price(world.platform, CHELSTONE[2])  # its listed K1.20 at every hour: the cost is exact
    phone = await dial_home(world, user)
    await choose(world, phone, "en", "home.balance")  # abandoned at the balance: nothing worth resuming
    again = await dial_home(world, user)
    assert again.last.startswith("CON " + world.t("en", "home.title", first_name="Natasha"))

    await go_to_kwh(world, again, "en", CHELSTONE[0], CHELSTONE[1])
    await again.send("1")  # now on the PIN screen, and the call drops
    back = world.phone(user.phone)
    offer = await back.dial()
    assert lines(offer)[0] == world.t("en", "resume.offer"), offer
    resumed = await back.send("1")
    assert lines(resumed)[0] == world.t(
        "en",
        "buy.kwh",
        cluster_name=CHELSTONE[1],
        price=120,
        available=(await world.platform.clusters.get(CHELSTONE[2])).available_wh,
    ), "resumed at the kWh question, before the PIN"
    confirm = await back.send("1")
    assert lines(confirm)[0] == world.t("en", "buy.confirm", wh=1000, cluster_name=CHELSTONE[1], cost=120)


async def test_a_gateway_that_recycles_a_session_id_after_expiry_gets_a_new_purchase(
    world: World,
) -> None:
    user = await world.new_user("en", "Bwalya Tembo")
    phone = await dial_home(world, user)
    await go_to_kwh(world, phone, "en", CHELSTONE[0], CHELSTONE[1])
    await phone.send("0.5")
    first = reference_in(await phone.send(DEMO_PIN))
    session_id = phone.session_id
    store: SessionStore = world.client.app[SESSIONS]
    await store.delete(session_id)  # the session expired (its TTL), and the gateway reuses the id
    again = world.phone(user.phone)
    await again.dial(session_id=session_id)
    await go_to_kwh(world, again, "en", CHELSTONE[0], CHELSTONE[1])
    await again.send("0.5")
    receipt = await again.send(DEMO_PIN)
    assert reference_in(receipt) != first, "a new dial is a new purchase, not the old receipt"
    assert (await world.platform.wallet.balances(user)).wh == 1000, "both purchases were made"


# --- PIN locks, resets and changes -----------------------------------------------------------


async def lock(world: World, user: User, times: int = 1) -> None:
    for _ in range(times):
        for _ in range(3):
            with pytest.raises((WrongPin, PinLocked)):
                await world.platform.users.verify_pin(user, WRONG)


async def test_a_locked_user_hears_it_at_the_start_of_every_pin_journey_with_the_time_left(world: World) -> None:
    user = await with_energy(world, name="Mwape Chanda")
    await lock(world, user)
    phone = await dial_home(world, user)
    expected = "CON " + world.t("en", "lock.minutes", minutes=30) + "\n" + world.t("en", "nav.back_home")
    for key in ("home.buy", "home.sell", "home.send", "home.offers"):
        assert await choose(world, phone, "en", key) == expected, key
        await phone.send("0")
    await choose(world, phone, "en", "home.account")
    assert await choose(world, phone, "en", "account.pin") == expected
    await phone.send("0", "0")
    balance = await choose(world, phone, "en", "home.balance")
    assert balance.startswith("CON " + world.t("en", "wallet.balance", ngwee=500 - 315, wh=3000)), balance


async def test_the_lock_wording_follows_its_stage(world: World) -> None:
    user = await world.new_user("en", "Chanda Mumba")
    store = world.platform.store
    # The second lock lasts 24 hours.
    await lock(world, user)
    stored = await world.user(user.phone)
    await store.atomic(lambda tx: tx.users.save_pin_state(_unlocked(stored)))
    await lock(world, user)
    stored = await world.user(user.phone)
    hours = -(-(stored.pin_locked_until - world.platform.clock.now_us()) // (3600 * MICROS_PER_SECOND))
    phone = await dial_home(world, user)
    reply = await choose(world, phone, "en", "home.buy")
    assert lines(reply)[0].startswith(f"Your PIN is locked for {hours} more hours (until "), reply
    # The third lasts until an operator resets it.
    await store.atomic(lambda tx: tx.users.save_pin_state(_unlocked(stored)))
    await lock(world, user)
    assert (await world.user(user.phone)).pin_locked_until == LOCKED_UNTIL_RESET
    phone = await dial_home(world, user)
    assert lines(await choose(world, phone, "en", "home.buy"))[0] == world.t("en", "lock.reset")


def _unlocked(user: User) -> User:
    """The same user once the lock's time has passed (the stage is kept)."""
    from dataclasses import replace

    return replace(user, pin_locked_until=0)


async def test_an_operator_reset_is_changed_on_the_next_dial_and_holds_sending(world: World) -> None:
    user = await with_energy(world, name="Joseph Zulu")
    await lock(world, user, times=3)
    await world.platform.users.reset_pin(user)
    [sms] = [
        r
        for r in await world.platform.store.outbox.list_outbox(recipient=user.phone)
        if r.message.template == "sms.pin_reset"
    ]
    one_time = str(sms.message.params["pin"])
    text = await world.sms_containing(user.phone, "one-time PIN")
    assert one_time in text
    assert "We never ask for your PIN" in text

    phone = world.phone(user.phone)
    first = await phone.dial()
    assert lines(first)[0] == world.t("en", "reset.new"), "the one-time PIN must be changed first"
    await phone.send(NEW_PIN)
    assert lines(await phone.send(NEW_PIN))[0] == world.t("en", "reset.otp")
    home = await phone.send(one_time)
    assert lines(home)[:2] == [world.t("en", "pin.done"), world.t("en", "home.title", first_name="Joseph")], home
    held = await choose(world, phone, "en", "home.send")
    stored = await world.user(user.phone)
    assert not stored.pin_must_change
    assert lines(held)[0].startswith("For your safety after a PIN reset, sending and paying are paused until "), held
    await world.platform.users.verify_pin(stored, NEW_PIN)
    rows = await world.platform.store.outbox.list_outbox(recipient=user.phone)
    assert any(r.message.template == "sms.pin_changed" for r in rows), "an SMS on every PIN change"


async def test_the_one_time_pin_is_not_kept_once_its_sms_is_sent(world: World) -> None:
    user = await world.new_user("en", "Lubinda Phiri")
    await world.platform.users.reset_pin(user)
    text = await world.sms_containing(user.phone, "one-time PIN")
    # The worker overwrites the PIN right after marking the row sent: wait for that write.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0
    while True:
        [row] = await outbox(world, user, "sms.pin_reset")
        if row.message.params["pin"] == "****" or loop.time() > deadline:
            break
        await asyncio.sleep(0.02)
    assert row.message.params["pin"] == "****", row.message.params
    assert re.search(r"one-time PIN is \d{4}\.", text), "the SMS itself carried the PIN"


async def test_changing_the_pin_asks_the_current_pin_last_and_never_trusts_a_dropped_session(world: World) -> None:
    user = await world.new_user("en", "Mulenga Banda")
    phone = await dial_home(world, user)
    await choose(world, phone, "en", "home.account")
    await choose(world, phone, "en", "account.pin")
    await phone.send(NEW_PIN)
    current = await phone.send(NEW_PIN)
    assert lines(current)[0] == world.t("en", "pin.old"), current
    # The call drops here. Whoever redials is not offered the change back, and must know the PIN.
    again = await dial_home(world, user)
    assert lines(again.last)[0] == world.t("en", "home.title", first_name="Mulenga"), again.last
    await choose(world, again, "en", "home.account")
    await choose(world, again, "en", "account.pin")
    await again.send("8461", "8461")
    refused = await again.send(WRONG)
    assert lines(refused)[0] == world.t("en", "err.wrong_pin", attempts_left=2), refused
    await world.platform.users.verify_pin(user, DEMO_PIN)  # unchanged
    done = await again.send(DEMO_PIN)
    assert done == "END " + world.t("en", "pin.done")
    await world.platform.users.verify_pin(user, "8461")


# --- screens ----------------------------------------------------------------------------------


async def test_the_carbon_screen_shows_equivalents_only_when_they_mean_something(world: World) -> None:
    nothing = await world.new_user("en", "Mutale Banda")
    phone = await dial_home(world, nothing)
    await choose(world, phone, "en", "home.balance")
    reply = await choose(world, phone, "en", "wallet.carbon")
    assert reply == "CON " + world.t("en", "carbon.none") + "\n" + world.t("en", "nav.back_home")
    assert (await phone.send("0")).startswith("CON " + world.t("en", "wallet.balance", ngwee=500, wh=0))

    small = await with_energy(world, name="Bupe Phiri", wh=200)  # 0.16 kg: no km, no tree
    phone = await dial_home(world, small)
    await choose(world, phone, "en", "home.balance")
    reply = await choose(world, phone, "en", "wallet.carbon")
    assert lines(reply)[:2] == ["Your solar energy: 0.2 kWh", "CO2 saved: 0.1 kg"], reply
    assert "tree" not in reply, reply
    assert "km" not in reply, reply


async def test_an_empty_number_is_asked_for_again_plainly(world: World) -> None:
    phone = await dial_home(world, await with_energy(world))
    await choose(world, phone, "en", "home.sell")
    reply = await phone.send("")
    assert lines(reply)[:2] == [world.t("en", "err.phone_empty"), world.t("en", "sell.phone")], reply


async def test_regions_follow_the_configured_order_and_keep_their_page_after_a_wrong_choice(world: World) -> None:
    for i in range(9):
        await world.platform.clusters.create(
            cluster_id=f"zz-region-{i}",
            name=f"Region {i} Solar",
            kind="micro",
            region=f"Zambezi District {i}",
            capacity_wh=10_000,
            price_ngwee_per_kwh=120,
        )
    phone = await dial_home(world, await world.new_user("en", "Chisomo Phiri"))
    first = await choose(world, phone, "en", "home.buy")
    items = [line for line in lines(first) if re.match(r"^\d+ ", line)]
    assert [i.split(" ", 1)[1] for i in items[:4]] == ["Lusaka", "Copperbelt", "Kabwe", "Rural"], first
    assert world.t("en", "nav.more") in first
    second = await phone.send("98")
    page = [line for line in lines(second) if re.match(r"^\d+ ", line)]
    wrong = await phone.send("97")
    assert lines(wrong)[0] == world.t("en", "err.invalid_choice")
    assert [line for line in lines(wrong) if re.match(r"^\d+ ", line)] == page, "the same page, the same numbers"
