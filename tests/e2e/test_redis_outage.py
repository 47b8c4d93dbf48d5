"""Redis goes away mid-journey: callers get a quick, polite END; operators see it in /health.

Uses a private redis-server (tests/support/redis.py), never the
shared one. Bounds are generous (the store is built to answer within about a
second): what matters is that the gateway's ~10 s deadline is never at risk.
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import World, running_app
from tests.e2e.screen_log import ScreenLog
from tests.support.gateway import option
from tests.support.redis import redis_server_binary, throwaway_redis

BUSY_BOUND_S = 2.0

pytestmark = pytest.mark.skipif(redis_server_binary() is None, reason="redis-server is not installed")


async def _health(world: World) -> tuple[int, dict[str, str]]:
    async with world.client.get("/health") as response:
        return response.status, await response.json()


async def test_redis_stopped_mid_journey_then_restarted(database_url: str, screen_log: ScreenLog) -> None:
    async with (
        throwaway_redis() as server,
        running_app({"DATABASE_URL": database_url, "REDIS_URL": server.url}, screen_log) as world,
    ):
        user = await world.new_user("ny", "Outage Tester")
        phone = world.phone(user.phone)
        await phone.dial()
        await phone.send(option(phone.last, world.t("ny", "home.buy")))
        assert (await _health(world))[0] == 200

        await server.stop()
        started = time.monotonic()
        reply = await phone.send(option(phone.last, "Lusaka"))
        elapsed = time.monotonic() - started

        assert reply == "END " + world.t("en", "err.busy") or reply == "END " + world.t("ny", "err.busy"), reply
        assert elapsed < BUSY_BOUND_S, f"the busy END took {elapsed:.2f} s"
        started = time.monotonic()
        fresh = world.phone()
        assert (await fresh.dial()).startswith("END "), "a new dial while Redis is down ends politely too"
        assert time.monotonic() - started < BUSY_BOUND_S
        status, body = await _health(world)
        assert status == 503, body
        assert body["status"] == "degraded", body
        assert body["sessions"].startswith("error"), body
        assert body["database"] == "ok", body

        await server.start()  # same port, empty
        again = world.phone(user.phone)
        home = await again.dial()
        assert home.startswith("CON " + world.t("ny", "home.title", first_name="Outage")), home
        reply = await again.send(option(home, world.t("ny", "home.balance")))
        assert reply.startswith("CON " + world.t("ny", "wallet.balance", ngwee=500, wh=0)), reply
        registration = await world.phone().dial()
        assert registration.startswith("CON " + world.t("en", "reg.welcome")), registration
        status, body = await _health(world)
        assert (status, body["sessions"]) == (200, "ok"), body


async def test_redis_hung_mid_journey_answers_busy_in_time(database_url: str, screen_log: ScreenLog) -> None:
    async with (
        throwaway_redis() as server,
        running_app(
            {"DATABASE_URL": database_url, "REDIS_URL": server.url, "REDIS_TIMEOUT_MS": "500"}, screen_log
        ) as world,
    ):
        user = await world.new_user("en", "Outage Tester")
        phone = world.phone(user.phone)
        await phone.dial()

        server.pause()  # accepts connections, never answers
        try:
            started = time.monotonic()
            reply = await phone.send("1")
            elapsed = time.monotonic() - started
            status, body = await _health(world)
        finally:
            server.resume()

        assert reply == "END " + world.t("en", "err.busy"), reply
        assert elapsed < BUSY_BOUND_S + 1.0, f"a hung Redis held the hop for {elapsed:.2f} s"
        assert status == 503, body
        assert body["sessions"].startswith("error"), body
        assert (await world.phone(user.phone).dial()).startswith("CON Enerlectra - Outage")
