"""A PIN check that would queue past the gateway's patience is answered "busy" at once.

The app runs as usual over HTTP; its user service gets a KDF queue of its
own, one thread, so a test can stand checks in front of a caller's PIN the
way a burst of other callers would, without touching other tests' queue.
The caller must see one short line on the same screen, keep every try, and
have their next PIN work once the queue has drained.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.e2e.conftest import World, running_app
from tests.e2e.journeys import WRONG_PIN, choose, dial_home, go_to_kwh, lines
from tests.e2e.screen_log import ScreenLog
from tests.support.flat_prices import flat_price
from tests.support.gateway import option
from tests.support.redis import redis_url
from ussd_server.appkeys import KDF_POOL
from ussd_server.demo import DEMO_PIN

WAIT_BUDGET_MS = 1000
RETRY_BUDGET_MS = 3000  # for a caller whose last PIN was answered busy
KDF_S = 0.05  # a stand-in KDF at production cost, so the queue has a time to estimate waits from


@pytest.fixture
async def world(database_url: str, screen_log: ScreenLog) -> AsyncIterator[World]:
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url(),
        "PIN_MAX_WAIT_MS": str(WAIT_BUDGET_MS),
        "PIN_RETRY_MAX_WAIT_MS": str(RETRY_BUDGET_MS),
        "PIN_KDF_THREADS": "1",
    }
    async with running_app(env, screen_log) as w:
        await w.client.app[KDF_POOL].run(lambda: time.sleep(KDF_S))
        yield w


@contextlib.contextmanager
def queue_ahead(world: World, past_ms: int = RETRY_BUDGET_MS) -> Iterator[None]:
    """Other callers' checks stand in the queue until the next one would wait longer than ``past_ms``."""
    kdf = world.client.app[KDF_POOL]
    with contextlib.ExitStack() as places:
        while kdf.expected_wait_s() * 1000 <= past_ms:
            places.enter_context(kdf.admit(None))
        yield


def without_say(reply: str) -> list[str]:
    """The screen under a one-line message."""
    return lines(reply)[1:]


async def test_a_busy_pin_check_keeps_the_screen_and_every_try(world: World, language: str) -> None:
    user = await world.new_user(language, "Mwansa Banda")
    await flat_price(world.platform, "lsk-kabulonga-micro")  # its listed K1.15 at every hour: the cost is exact
    phone = await dial_home(world, user)
    await go_to_kwh(world, phone, language, "Lusaka", "Kabulonga Micro-Grid")
    pin_screen = await phone.send("1")

    with queue_ahead(world):
        reply = await phone.send(DEMO_PIN)
    assert reply.startswith("CON "), reply
    assert lines(reply)[0] == world.t(language, "err.pin_busy"), reply
    assert without_say(reply) == lines(pin_screen), "the same PIN screen, asked again"
    assert (await world.user(user.phone)).pin_failures == 0, "a busy answer uses no try"
    async with world.client.get("/health") as response:
        health = await response.json()
    assert (response.status, health["pin_queue"]["shed"]) == (200, 1), "operators see the shed check; still healthy"

    reply = await phone.send(WRONG_PIN)
    assert lines(reply)[0] == world.t(language, "err.wrong_pin", attempts_left=2), "all three tries were still there"
    reply = await phone.send(DEMO_PIN)
    assert reply.startswith("END "), reply
    balances = await world.balances(user.phone)
    assert (balances.wh, balances.ngwee) == (1000, 500 - 115), "bought once: 1 kWh at K1.15"


async def test_registration_keeps_the_chosen_pin_through_busy_answers(world: World, language: str) -> None:
    phone = world.phone()
    await phone.dial()
    await phone.send(option(phone.last, world.t("en", f"lang.{language}")), "Chanda Mulenga")
    choose_screen = phone.last

    with queue_ahead(world):
        for _ in range(3):  # three busy answers in a row are not three invalid inputs
            reply = await phone.send("7391")
            assert lines(reply)[0] == world.t(language, "err.pin_busy"), reply
            assert without_say(reply) == lines(choose_screen), reply
    again_screen = await phone.send("7391")
    assert lines(again_screen)[0] == world.t(language, "reg.pin_again"), again_screen

    with queue_ahead(world):
        reply = await phone.send("7391")
    assert lines(reply)[0] == world.t(language, "err.pin_busy"), reply
    assert without_say(reply) == lines(again_screen), "asked for the same PIN again, not to choose a new one"
    assert await world.platform.users.find(phone.number) is None

    home = await phone.send("7391")
    assert lines(home)[0] == world.t(language, "home.title", first_name="Chanda"), home
    await world.platform.users.verify_pin(await world.user(phone.number), "7391")


async def test_changing_the_pin_keeps_the_new_pin_through_a_busy_answer(world: World, language: str) -> None:
    user = await world.new_user(language, "Musonda Kapata")
    phone = await dial_home(world, user)
    await choose(world, phone, language, "home.account")
    await choose(world, phone, language, "account.pin")
    await phone.send("4826")

    with queue_ahead(world):
        reply = await phone.send("4826")
    assert lines(reply)[:2] == [world.t(language, "err.pin_busy"), world.t(language, "pin.new_again")], reply

    reply = await phone.send("4826")
    assert lines(reply)[0] == world.t(language, "pin.old"), "the new PIN chosen before the busy answer was kept"
    with queue_ahead(world):
        reply = await phone.send(DEMO_PIN)
    assert lines(reply)[:2] == [world.t(language, "err.pin_busy"), world.t(language, "pin.old")], reply
    assert (await world.user(user.phone)).pin_failures == 0, "a busy answer uses no try"

    reply = await phone.send(DEMO_PIN)
    assert reply == "END " + world.t(language, "pin.done")
    await world.platform.users.verify_pin(user, "4826")


async def test_someone_answered_busy_is_let_in_ahead_of_newcomers(world: World, language: str) -> None:
    first, second = [await world.new_user(language, name) for name in ("Mwansa Banda", "Chipo Phiri")]
    phones = []
    for user in (first, second):
        phone = await dial_home(world, user)
        await go_to_kwh(world, phone, language, "Lusaka", "Kabulonga Micro-Grid")
        await phone.send("1")
        phones.append(phone)
    early, newcomer = phones
    busy = world.t(language, "err.pin_busy")

    # The queue is deeper than a first PIN may wait, but not than a second one after a busy answer.
    with queue_ahead(world, past_ms=WAIT_BUDGET_MS):
        assert lines(await early.send(DEMO_PIN))[0] == busy
        assert lines(await newcomer.send(DEMO_PIN))[0] == busy, "a newcomer waits no longer than the budget"
        receipt = await early.send(DEMO_PIN)
        assert receipt.startswith("END "), f"typing the PIN again after a busy answer must get in: {receipt!r}"
    assert (await world.balances(first.phone)).wh == 1000
    assert (await world.balances(second.phone)).wh == 0, "the newcomer's purchase waits for their next PIN"
