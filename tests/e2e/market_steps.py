"""What the market's e2e tests share: the server's clock held still, money and energy to trade, Kabwe's market.

The app reads the time from one clock object (its platform's, shared by the
store and every service). Replacing that object's ``now_us`` holds the whole
server at one moment, so a test and the server see the same delivery slot and
the same posted price, and moving it ages a quote past its life in an instant.
"""

from __future__ import annotations

import secrets

import pytest

from engine.identity.model import User
from engine.kernel.clock import ManualClock
from engine.ledger.accounts import PROMOTIONS
from engine.ledger.model import CreateTransferResult, Transfer
from tests.e2e.conftest import World
from tests.support.gateway import Phone, option
from ussd_server.demo import DEMO_PIN

KABWE = ("Kabwe", "Kabwe Campus Solar Co-op", "kbw-campus-solar")  # the only cluster of its region
MENU = ("market.opt_prices", "market.opt_buy", "market.opt_sell", "market.opt_orders")


def hold_clock(world: World, monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    """Hold the server's clock at now; the returned clock moves it."""
    clock = ManualClock(world.platform.clock.now_us())
    monkeypatch.setattr(world.platform.clock, "now_us", clock.now_us)
    return clock


async def fund(world: World, user: User, ngwee: int) -> None:
    transfer = Transfer(f"test-fund:{user.id}:{secrets.token_hex(4)}", PROMOTIONS, user.zmw_account_id, ngwee)
    assert await world.platform.store.ledger.create_transfers([transfer]) == [CreateTransferResult.OK]


async def trader(world: World, language: str, name: str, *, ngwee: int = 0, wh: int = 0) -> User:
    """A new user with the starting credit, ``ngwee`` more, and ``wh`` bought from Kabwe's pool."""
    user = await world.new_user(language, name)
    if ngwee:
        await fund(world, user, ngwee)
    if wh:
        await fund(world, user, wh)  # what the energy costs at the listed price, and more
        await world.platform.clusters.buy(buyer=user, cluster_id=KABWE[2], wh=wh, operation_id=f"test-wh:{user.id}")
    return user


async def place(world: World, user: User, side: str, wh: int, price: int) -> str:
    """An order placed through the engine (the member's PIN), for the next open slot: its id."""
    proof = await world.platform.users.verify_pin(user, DEMO_PIN)
    placement = await world.platform.orders.place(proof, user, KABWE[2], side, wh, price)
    return placement.order.id


def screen(
    world: World, language: str, key: str, *options: str, nav: bool = True, say: str = "", **params: object
) -> str:
    """A CON screen as the app renders it: a reason, the text, numbered options, navigation."""
    parts = [world.t(language, say, **params)] if say else []
    parts.append(world.t(language, key, **params))
    parts += [f"{i} {world.t(language, label, **params)}" for i, label in enumerate(options, 1)]
    if nav:
        parts.append(world.t(language, "nav.back_home"))
    return "CON " + "\n".join(parts)


async def open_market(world: World, phone: Phone, language: str) -> str:
    """From the home menu to Kabwe's market menu (Market, region, cluster)."""
    await phone.send(option(phone.last, world.t(language, "home.market")))
    assert phone.last.startswith("CON " + world.t(language, "market.pick")), phone.last
    await phone.send(option(phone.last, KABWE[0]))
    assert phone.last.startswith("CON " + world.t(language, "market.cluster", region=KABWE[0])), phone.last
    menu = await phone.send(option(phone.last, KABWE[1]))
    labels = [f"{i} {world.t(language, key)}" for i, key in enumerate(MENU, 1)]
    assert menu.split("\n")[-5:] == [*labels, world.t(language, "nav.back_home")], menu
    return menu
