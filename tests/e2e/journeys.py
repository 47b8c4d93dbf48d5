"""Steps of the USSD journeys that several e2e test modules walk: home, a menu option, the kWh question."""

from __future__ import annotations

from engine.identity.model import User
from tests.e2e.conftest import World
from tests.support.gateway import Phone, option

WRONG_PIN = "9173"
MWILA = "+260977123456"  # a demo user (Bemba by default)


def lines(reply: str) -> list[str]:
    return reply[4:].split("\n")


async def dial_home(world: World, user: User) -> Phone:
    phone = world.phone(user.phone)
    reply = await phone.dial()
    lang = str(user.language)
    assert reply.startswith("CON "), reply
    assert lines(reply)[0] == world.t(lang, "home.title", first_name=user.name.split()[0]), reply
    assert world.t(lang, "home.buy") in reply, reply
    return phone


async def choose(world: World, phone: Phone, language: str, key: str, **params: object) -> str:
    """Press the number of the option labelled with catalog text ``key``."""
    return await phone.send(option(phone.last, world.t(language, key, **params)))


async def go_to_kwh(world: World, phone: Phone, lang: str, region: str, cluster: str) -> str:
    await choose(world, phone, lang, "home.buy")
    assert lines(phone.last)[0] == world.t(lang, "buy.region"), phone.last
    await phone.send(option(phone.last, region))
    assert lines(phone.last)[0] == world.t(lang, "buy.cluster", region=region), phone.last
    return await phone.send(option(phone.last, cluster))
