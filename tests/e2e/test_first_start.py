"""A newcomer's first minutes: a dev server on an empty database has something to buy at once."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import PRODUCTION, TEST_HASHER
from tests.e2e.conftest import BASE_ENV, World, running_app
from tests.support.gateway import option
from tests.support.phones import unique_phone
from ussd_server import demo
from ussd_server.bootstrap import open_platform
from ussd_server.settings import Settings


def first_line(reply: str) -> str:
    return reply[4:].split("\n")[0]


async def buy_menu(world: World) -> tuple[str, str]:
    """A newly registered person opens Buy and picks Lusaka: (the region screen, the cluster screen)."""
    user = await world.new_user("en", "Newcomer Banda")
    phone = world.phone(user.phone)
    await phone.dial()
    regions = await phone.send(option(phone.last, world.t("en", "home.buy")))
    clusters = await phone.send(option(regions, "Lusaka"))
    return regions, clusters


async def test_a_dev_server_on_an_empty_database_loads_the_demo_data(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="enerlectra")
    async with running_app({"DATABASE_URL": sqlite_url}, seed=False) as world:
        regions, clusters = await buy_menu(world)
        assert first_line(regions) == world.t("en", "buy.region"), regions
        assert first_line(clusters) == world.t("en", "buy.cluster", region="Lusaka"), clusters
        assert "Kabulonga Micro-Grid" in clusters
        assert world.t("en", "buy.no_clusters") not in clusters
    said = [r.getMessage() for r in caplog.records if "demo data" in r.getMessage()]
    assert len(said) == 1, said
    assert f"demo PIN {demo.DEMO_PIN}" in said[0]


async def test_by_default_a_first_start_also_brings_living_coops_a_member_can_dial_into(sqlite_url: str) -> None:
    async with running_app({"DATABASE_URL": sqlite_url, "DEMO_DATA": "full"}, seed=False) as world:
        coops = await world.platform.coops.find(limit=50)
        assert {str(c.region) for c in coops} == {"lusaka", "kabwe", "copperbelt", "rural"}
        chipo = await world.platform.users.get("+260966234567")  # a demo user: Nyanja, PIN 5173
        [(coop, member)] = await world.platform.coops.memberships(chipo)
        open_now = await world.platform.governance.proposals(coop.id, open_only=True)
        assert any(p.state == "active" for p in open_now), "a vote is open to take part in at once"
        phone = world.phone(chipo.phone)
        await phone.dial()
        menu = await phone.send(option(phone.last, world.t("ny", "home.coop")))
        assert first_line(menu) == coop.name, menu
        assert member.shares > 0


async def test_basic_demo_data_leaves_coops_to_the_demo_seed_command(sqlite_url: str) -> None:
    async with running_app({"DATABASE_URL": sqlite_url, "DEMO_DATA": "basic"}, seed=False) as world:
        assert await world.platform.coops.find() == []
        assert await world.platform.clusters.list()


async def test_a_dev_server_never_seeds_a_database_someone_has_used(sqlite_url: str) -> None:
    env = {**BASE_ENV, "DATABASE_URL": sqlite_url}
    platform = await open_platform(Settings.from_env(env), hasher=TEST_HASHER)
    try:
        await platform.users.register(phone=unique_phone(), name="Someone Real", language="en", pin=demo.DEMO_PIN)
    finally:
        await platform.store.close()
    async with running_app({"DATABASE_URL": sqlite_url}, seed=False) as world:
        assert await world.platform.store.users.count_users() == 1
        assert await world.platform.store.clusters.list_clusters() == []


async def test_a_production_server_never_seeds(sqlite_url: str) -> None:
    async with running_app({**PRODUCTION, "DATABASE_URL": sqlite_url}, seed=False) as world:
        assert await world.platform.store.users.count_users() == 0
        assert await world.platform.store.clusters.list_clusters() == []
        async with world.client.get("/dev/sms", params={"phone": "+260977123456"}) as response:
            assert response.status == 404, "the SMS inbox is a dev tool"
