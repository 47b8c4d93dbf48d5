"""Walking a drill's caller through the menus of a server process: home, then the PIN screen of a purchase."""

from __future__ import annotations

from engine.identity.model import User
from engine.kernel.units import cost_of_energy
from tests.drills.load import CLUSTER_NAMES
from tests.drills.stack import Stack
from tests.support.gateway import Gateway, Phone, option

COST = cost_of_energy(100, 120)  # 0.1 kWh at Chelstone's K1.20/kWh


def t(stack: Stack, user: User, key: str, **params: object) -> str:
    return stack.catalogs.render(str(user.language), key, params)


async def at_home(stack: Stack, gateway: Gateway, user: User) -> Phone:
    """A fresh session (new sessionId) of ``user`` on the home menu, declining to resume an earlier one."""
    phone = gateway.phone(user.phone, record=False)
    await phone.dial()
    if phone.last.startswith("CON " + t(stack, user, "resume.offer")):
        await phone.send(option(phone.last, t(stack, user, "opt.no")))
    assert option(phone.last, t(stack, user, "home.buy")), phone.last
    return phone


async def to_buy_pin(stack: Stack, user: User, phone: Phone) -> Phone:
    """From home to the screen that asks for the PIN to buy 0.1 kWh."""
    await phone.send(option(phone.last, t(stack, user, "home.buy")))
    await phone.send(option(phone.last, "Lusaka"))
    await phone.send(option(phone.last, "Chelstone"))
    screen = await phone.send("0.1")
    confirm = t(stack, user, "buy.confirm", wh=100, cluster_name=CLUSTER_NAMES["Chelstone"], cost=COST)
    assert screen.startswith("CON " + confirm), screen
    return phone


async def on_buy_pin_screen(stack: Stack, gateway: Gateway, user: User) -> Phone:
    return await to_buy_pin(stack, user, await at_home(stack, gateway, user))
