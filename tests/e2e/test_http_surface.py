"""The HTTP surface Africa's Talking and operators see: status codes, auth, health, events."""

from __future__ import annotations

from aiohttp import encode_basic_auth

from simulator.protocol import new_session_id
from tests.e2e.conftest import World, running_app
from tests.e2e.screen_log import ScreenLog
from tests.support.gateway import SERVICE_CODE, check_reply
from tests.support.phones import unique_phone
from tests.support.redis import redis_url

SECRET = "gw-secret-0123456789abcdef"


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": encode_basic_auth(user, password)}


def form(**overrides: str) -> dict[str, str]:
    base = {
        "sessionId": new_session_id(),
        "serviceCode": SERVICE_CODE,
        "phoneNumber": unique_phone(),
        "networkCode": "64501",
        "text": "",
    }
    return {**base, **overrides}


END_OF_SESSION = {
    "sessionId": "ATUid_0d5e1c7d6f1e4d4c9c9d8a1b2c3d4e5f",
    "serviceCode": SERVICE_CODE,
    "networkCode": "64501",
    "phoneNumber": "+260977123456",
    "status": "Success",
    "cost": "ZMW 0.0500",
    "durationInMillis": "53420",
    "hopsCount": "5",
    "input": "2*3*2*1.5*5173",
    "lastAppResponse": "END Done!",
    "errorMessage": "",
    "date": "2025-11-25 10:15:00",
}


async def test_wrong_content_type_is_415(world: World) -> None:
    for content_type, body in (("application/json", '{"sessionId": "x"}'), ("text/plain", "sessionId=x")):
        reply = await world.gateway.post("/ussd", body, headers={"Content-Type": content_type})
        assert reply.status == 415, (content_type, reply)


async def test_oversized_body_is_413(world: World) -> None:
    reply = await world.gateway.post("/ussd", form(text="12*" * 3000))
    assert reply.status == 413, reply


async def test_missing_fields_are_400(world: World) -> None:
    for missing in ("sessionId", "serviceCode", "phoneNumber", "text"):
        data = form()
        del data[missing]
        reply = await world.gateway.post("/ussd", data)
        assert reply.status == 400, (missing, reply)
        assert missing in reply.body, f"the 400 should name the missing field: {reply.body!r}"


async def test_unknown_service_code_ends_with_a_message(world: World) -> None:
    reply = await world.gateway.post("/ussd", form(serviceCode="*123*99#"))
    assert check_reply(reply) == "END " + world.t("en", "err.unknown_service")
    # The configured code is recognised with or without the closing '#'.
    reply = await world.gateway.post("/ussd", form(serviceCode=SERVICE_CODE.rstrip("#")))
    assert check_reply(reply).startswith("CON " + world.t("en", "reg.welcome"))


async def test_get_on_the_callback_is_405(world: World) -> None:
    async with world.client.get("/ussd") as response:
        assert response.status == 405


async def test_health_is_200_json(world: World, backend: str) -> None:
    async with world.client.get("/health") as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        body = await response.json()
    queue = body.pop("pin_queue")
    assert body == {"status": "ok", "backend": backend, "database": "ok", "sessions": "ok"}
    assert (queue["pending"], queue["expected_wait_ms"]) == (0, 0), "no PIN check is queued on an idle server"


async def test_events_accept_an_end_of_session_notification(world: World) -> None:
    reply = await world.gateway.post("/ussd/events", END_OF_SESSION)
    assert (reply.status, reply.body) == (200, "OK"), reply
    # a real session dropped on the wallet screen: the notification is kept with that screen
    user = await world.new_user("en", "Event Tester")
    phone = world.phone(user.phone)
    await phone.dial()
    await phone.send("1")
    event = {**END_OF_SESSION, "sessionId": phone.session_id, "status": "Incomplete", "hopsCount": "2"}
    reply = await world.gateway.post("/ussd/events", event)
    assert (reply.status, reply.body) == (200, "OK"), reply
    assert (await world.gateway.post("/ussd/events", event)).status == 200, "a repeated notification is fine"
    funnel = {f.screen: f for f in await world.platform.ussd_funnel()}
    assert (funnel["wallet"].sessions, funnel["wallet"].dropped) == (1, 1), funnel
    reply = await world.gateway.post("/ussd/events", {k: v for k, v in END_OF_SESSION.items() if k != "sessionId"})
    assert reply.status == 400, reply
    reply = await world.gateway.post("/ussd/events", "{}", headers={"Content-Type": "application/json"})
    assert reply.status == 415, reply


async def test_token_mode(database_url: str, screen_log: ScreenLog) -> None:
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url(), "GATEWAY_SECRET": SECRET, "GATEWAY_AUTH": "token"}
    async with running_app(env, screen_log, seed=False) as world:
        post = world.gateway.post
        assert (await post("/ussd", form(), params={})).status == 401
        assert (await post("/ussd", form(), params={"token": SECRET[:-1] + "x"})).status == 401
        assert (await post("/ussd", form(), params={"token": ""})).status == 401
        assert (await post("/ussd/events", END_OF_SESSION, params={})).status == 401
        assert (await post("/sms/delivery", {"id": "x", "status": "Success"}, params={})).status == 401
        reply = await post("/ussd", form(), params={"token": SECRET})
        assert check_reply(reply).startswith("CON " + world.t("en", "reg.welcome"))
        assert (await post("/ussd/events", END_OF_SESSION, params={"token": SECRET})).status == 200
        # basic credentials do not count in token mode
        assert (await post("/ussd", form(), params={}, headers=basic("africastalking", SECRET))).status == 401
        async with world.client.get("/health") as response:
            assert response.status == 200, "health stays open for load balancers"


async def test_basic_mode(database_url: str, screen_log: ScreenLog) -> None:
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url(), "GATEWAY_SECRET": SECRET}  # basic is the default
    async with running_app(env, screen_log, seed=False) as world:
        post = world.gateway.post
        async with world.client.post("/ussd", data=form()) as response:
            assert response.status == 401
            assert response.headers.get("WWW-Authenticate", "").startswith("Basic")
        assert (await post("/ussd", form(), headers=basic("africastalking", "wrong-password"))).status == 401
        assert (await post("/ussd", form(), headers=basic("at", SECRET))).status == 401, "the user name counts too"
        assert (await post("/ussd", form(), params={"token": SECRET})).status == 401, "a token is not basic auth"
        reply = await post("/ussd", form(), headers=basic("africastalking", SECRET))
        assert check_reply(reply).startswith("CON " + world.t("en", "reg.welcome"))
        assert (await post("/ussd/events", END_OF_SESSION, headers=basic("africastalking", SECRET))).status == 200
        async with world.client.post(
            "/ussd", data=form(), headers={"Authorization": "Basic !!!not-base64!!!"}
        ) as response:
            assert response.status == 401


async def test_allowed_ips(database_url: str, screen_log: ScreenLog) -> None:
    base = {"DATABASE_URL": database_url, "REDIS_URL": redis_url()}
    async with running_app({**base, "GATEWAY_ALLOWED_IPS": "10.0.0.0/8, 192.168.1.7"}, screen_log, seed=False) as w:
        assert (await w.gateway.post("/ussd", form())).status == 403
        assert (await w.gateway.post("/ussd/events", END_OF_SESSION)).status == 403
        async with w.client.get("/health") as response:
            assert response.status == 200
    async with running_app({**base, "GATEWAY_ALLOWED_IPS": "10.0.0.0/8,127.0.0.1/32"}, screen_log, seed=False) as w:
        check_reply(await w.gateway.post("/ussd", form()))
    env = {**base, "GATEWAY_ALLOWED_IPS": "10.0.0.0/8", "GATEWAY_SECRET": SECRET}
    async with running_app(env, screen_log, seed=False, params={"token": SECRET}) as w:
        assert (await w.gateway.post("/ussd", form())).status == 403, "the right token from a wrong address"
