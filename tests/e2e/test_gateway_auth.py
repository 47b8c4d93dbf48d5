"""Who may call the gateway callbacks: credentials, caller addresses behind proxies, failed-auth limits.

The test client always connects from 127.0.0.1. Tests that need other callers
declare 127.0.0.1 a trusted proxy and name the caller in X-Forwarded-For, the
way a reverse proxy in front of the server would.
"""

from __future__ import annotations

import pytest
from aiohttp import encode_basic_auth

from simulator.protocol import new_session_id
from tests.e2e.conftest import running_app
from tests.support.gateway import SERVICE_CODE, check_reply
from tests.support.phones import unique_phone
from tests.support.redis import redis_url, throwaway_redis

SECRET = "gw-secret-0123456789abcdef-0123456789"
USER = "africastalking"
ATTACKER = "203.0.113.5"
GATEWAY = "198.51.100.7"


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": encode_basic_auth(user, password)}


def forwarded(address: str, **headers: str) -> dict[str, str]:
    return {"X-Forwarded-For": address, **headers}


def form() -> dict[str, str]:
    return {
        "sessionId": new_session_id(),
        "serviceCode": SERVICE_CODE,
        "phoneNumber": unique_phone(),
        "networkCode": "64501",
        "text": "",
    }


@pytest.fixture(params=["redis", "memory"])
def counters(request: pytest.FixtureRequest) -> dict[str, str]:
    """Failed authentications counted in Redis (shared by every process) or in this process."""
    return {"REDIS_URL": redis_url()} if request.param == "redis" else {}


async def test_basic_auth_checks_the_user_name_too(sqlite_url: str) -> None:
    async with running_app({"DATABASE_URL": sqlite_url, "GATEWAY_SECRET": SECRET}, seed=False) as world:
        post = world.gateway.post
        assert (await post("/ussd", form(), headers=basic("someone-else", SECRET))).status == 401
        assert (await post("/ussd", form(), headers=basic("", SECRET))).status == 401
        assert (await post("/ussd", form(), headers=basic(USER, SECRET + "x"))).status == 401
        check_reply(await post("/ussd", form(), headers=basic(USER, SECRET)))
    # A custom user name is honoured, and the default one then no longer is.
    env = {"DATABASE_URL": sqlite_url, "GATEWAY_SECRET": SECRET, "GATEWAY_USER": "at-zambia"}
    async with running_app(env, seed=False) as world:
        assert (await world.gateway.post("/ussd", form(), headers=basic(USER, SECRET))).status == 401
        check_reply(await world.gateway.post("/ussd", form(), headers=basic("at-zambia", SECRET)))


async def test_the_11th_failure_from_an_address_is_429_while_others_still_get_in(
    sqlite_url: str, counters: dict[str, str]
) -> None:
    env = {"DATABASE_URL": sqlite_url, "GATEWAY_SECRET": SECRET, "TRUSTED_PROXIES": "127.0.0.1/32", **counters}
    async with running_app(env, seed=False) as world:
        post = world.gateway.post
        for attempt in range(10):
            reply = await post("/ussd", form(), headers=forwarded(ATTACKER, **basic(USER, f"guess-{attempt}")))
            assert reply.status == 401, (attempt, reply)
        async with world.client.post(
            "/ussd", data=form(), headers=forwarded(ATTACKER, **basic(USER, "guess-10"))
        ) as response:
            assert response.status == 429
            assert 1 <= int(response.headers["Retry-After"]) <= 60
        # Past the limit the secret is not even looked at: the right one is refused too.
        reply = await post("/ussd", form(), headers=forwarded(ATTACKER, **basic(USER, SECRET)))
        assert reply.status == 429, reply
        # Another caller behind the same proxy has its own budget.
        check_reply(await post("/ussd", form(), headers=forwarded(GATEWAY, **basic(USER, SECRET))))
        # So does the proxy itself, when it calls in its own name.
        check_reply(await post("/ussd", form(), headers=basic(USER, SECRET)))


async def test_an_untrusted_peer_cannot_buy_fresh_budgets_with_x_forwarded_for(
    sqlite_url: str, counters: dict[str, str]
) -> None:
    env = {"DATABASE_URL": sqlite_url, "GATEWAY_SECRET": SECRET, **counters}  # no trusted proxies
    async with running_app(env, seed=False) as world:
        post = world.gateway.post
        for attempt in range(10):
            spoofed = forwarded(f"192.0.2.{attempt}", **basic(USER, "guess"))
            assert (await post("/ussd", form(), headers=spoofed)).status == 401
        assert (await post("/ussd", form(), headers=forwarded("192.0.2.99", **basic(USER, "guess")))).status == 429


async def test_x_forwarded_for_from_an_untrusted_peer_is_ignored_by_the_allow_list(sqlite_url: str) -> None:
    env = {"DATABASE_URL": sqlite_url, "GATEWAY_ALLOWED_IPS": "10.0.0.0/8"}
    async with running_app(env, seed=False) as world:
        assert (await world.gateway.post("/ussd", form(), headers=forwarded("10.1.2.3"))).status == 403


async def test_behind_a_trusted_proxy_the_allow_list_sees_the_real_caller(sqlite_url: str) -> None:
    env = {"DATABASE_URL": sqlite_url, "GATEWAY_ALLOWED_IPS": "10.0.0.0/8", "TRUSTED_PROXIES": "127.0.0.0/8"}
    async with running_app(env, seed=False) as world:
        post = world.gateway.post
        check_reply(await post("/ussd", form(), headers=forwarded("10.1.2.3")))
        check_reply(await post("/ussd", form(), headers=forwarded("10.1.2.3, 127.0.0.2")))  # two of our proxies
        assert (await post("/ussd", form(), headers=forwarded("192.0.2.1"))).status == 403
        # A caller writing its own header: the proxy appends the address it saw, and that is the one used.
        assert (await post("/ussd", form(), headers=forwarded("10.1.2.3, 192.0.2.1"))).status == 403
        # A malformed chain cannot be followed: the proxy answers for the request (not allowed here).
        assert (await post("/ussd", form(), headers=forwarded("10.1.2.3, not-an-address"))).status == 403
        assert (await post("/ussd", form())).status == 403, "the proxy itself is not the gateway"


async def test_the_gateway_fails_closed_when_the_rate_limiter_is_down(sqlite_url: str) -> None:
    async with throwaway_redis() as server:
        env = {"DATABASE_URL": sqlite_url, "GATEWAY_SECRET": SECRET, "REDIS_URL": server.url}
        async with running_app(env, seed=False) as world:
            check_reply(await world.gateway.post("/ussd", form(), headers=basic(USER, SECRET)))
            await server.stop()
            async with world.client.post("/ussd", data=form(), headers=basic(USER, "guess")) as response:
                assert response.status == 503, "never let a failed attempt go uncounted"
            # The gateway itself, with the right secret, is never held up by the counter: its hop
            # answers like any hop while Redis (and so the sessions) is down.
            busy = check_reply(await world.gateway.post("/ussd", form(), headers=basic(USER, SECRET)))
            assert busy == "END " + world.t("en", "err.busy"), busy
