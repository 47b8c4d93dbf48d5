"""Whatever goes wrong, a client gets the envelope, a stable code and the right status; never a traceback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from engine.access.model import Scope
from tests.e2e.api_client import CHIPO, CLUSTER, MWILA, Api, new_key
from tests.e2e.conftest import World, running_app
from tests.support.phones import unique_phone
from tests.support.redis import redis_url
from ussd_server.demo import DEMO_PIN

ORIGIN = "https://app.example.zm"


@pytest.fixture
async def strict(database_url: str) -> AsyncIterator[World]:
    """An app with a PIN budget a test can use up, a gift cap of one, and one origin allowed for CORS."""
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url(),
        "PIN_CHECKS_PER_MINUTE": "4",
        "GIFTS_PER_DAY": "1",
        "API_SIGN_IN_FAILURES_PER_MINUTE": "3",
        "API_CORS_ORIGINS": ORIGIN,
    }
    async with running_app(env) as world:
        yield world


async def test_unknown_routes_and_methods_answer_in_the_envelope(world: World) -> None:
    api = Api(world)
    missing = await api.call("GET", "/no/such/thing")
    assert (missing.status, missing.code) == (404, "ROUTE_NOT_FOUND")
    wrong = await api.call("PUT", "/wallet")
    assert (wrong.status, wrong.code) == (405, "METHOD_NOT_ALLOWED")
    assert "GET" in wrong.headers["Allow"]
    root = await api.call("GET", "")
    assert root.status == 404
    # An expectation the server does not know is ignored (RFC 9110 allows it), never a bare 417.
    odd = await api.call("DELETE", "/session", headers={"Expect": "-"})
    assert (odd.status, odd.code) == (401, "UNAUTHENTICATED")


async def test_a_request_without_a_usable_credential_is_refused(world: World) -> None:
    api = Api(world)
    none = await api.call("GET", "/wallet")
    assert (none.status, none.code) == (401, "UNAUTHENTICATED")
    assert none.headers["WWW-Authenticate"].startswith("Bearer")
    forged = await api.call("GET", "/wallet", auth="ent_" + "A" * 43)
    assert (forged.status, forged.code) == (401, "UNAUTHENTICATED")
    key = await api.api_key(Scope.READ)
    assert (await api.call("POST", "/users", auth=key, json={})).code == "FORBIDDEN"  # before the body is looked at
    revoked = await world.platform.access.create_api_key("gone", {Scope.ADMIN})
    await world.platform.access.revoke_api_key(revoked.key.id)
    assert (await api.call("GET", "/clusters", auth=revoked.secret)).status == 401


async def test_a_malformed_request_is_400_and_a_refused_value_is_422(world: World) -> None:
    api = Api(world)
    token = await api.sign_in(CHIPO)
    path = f"/clusters/{CLUSTER}/purchases"

    not_json = await api.call(
        "POST", path, auth=token, key=new_key(), data="wh=5", headers={"Content-Type": "text/plain"}
    )
    assert (not_json.status, not_json.code) == (415, "UNSUPPORTED_MEDIA_TYPE")
    broken = await api.call(
        "POST", path, auth=token, key=new_key(), data="{", headers={"Content-Type": "application/json"}
    )
    assert (broken.status, broken.code) == (400, "INVALID_REQUEST")
    float_wh = await api.call("POST", f"/clusters/{CLUSTER}/quotes", auth=token, json={"wh": 1.5})
    assert (float_wh.status, float_wh.details["field"]) == (400, "wh")
    quote_id = await api.quote(token, 10)
    extra = await api.call(
        "POST", path, auth=token, key=new_key(), json={"quote_id": quote_id, "pin": DEMO_PIN, "user_id": 1}
    )
    assert extra.status == 400
    too_big = await api.call(
        "POST", path, auth=token, key=new_key(), data="x" * 20_000, headers={"Content-Type": "application/json"}
    )
    assert too_big.status == 413
    assert too_big.body["success"] is False

    partner = await api.api_key(Scope.PARTNER)
    landline = await api.call(
        "POST", "/users", auth=partner, json={"phone": "0211123456", "name": "A B", "pin": "4827"}
    )
    assert (landline.status, landline.code) == (422, "INVALID_PHONE")
    weak = await api.call("POST", "/users", auth=partner, json={"phone": unique_phone(), "name": "A B", "pin": "1234"})
    assert (weak.status, weak.code) == (422, "WEAK_PIN")


async def test_the_rules_refuse_with_the_same_codes_as_on_ussd(world: World) -> None:
    api = Api(world)
    phone = unique_phone()
    await world.platform.users.register(phone=phone, name="Test Person", language="en", pin="4827")
    token = await api.sign_in(phone, "4827")

    broke = await api.buy(token, 100_000, pin="4827")
    assert (broke.status, broke.code) == (422, "INSUFFICIENT_FUNDS")
    unknown = await api.call("GET", "/clusters/no-such-cluster", auth=token)
    assert (unknown.status, unknown.code) == (404, "CLUSTER_NOT_FOUND")
    nobody = await api.call(
        "POST", "/gifts", auth=token, key=new_key(), json={"to": unique_phone(), "wh": 100, "pin": "4827"}
    )
    assert (nobody.status, nobody.code) == (404, "COUNTERPARTY_NOT_FOUND")
    for left in (2, 1):
        wrong = await api.buy(token, 100, pin="9999")
        assert (wrong.status, wrong.code, wrong.details["attempts_left"]) == (422, "WRONG_PIN", left)
    third = await api.buy(token, 100, pin="9999")
    assert (third.status, third.code) == (422, "PIN_LOCKED")
    right = await api.buy(token, 100, pin="4827")
    assert (right.status, right.code) == (422, "PIN_LOCKED")
    assert (await api.call("POST", "/session", json={"phone": phone, "pin": "4827"})).code == "PIN_LOCKED"
    assert (await world.balances(phone)).ngwee == world.settings.starting_credit_ngwee  # nothing moved


async def test_limits_answer_429_with_retry_after(strict: World) -> None:
    api = Api(strict)
    giver = await api.sign_in(MWILA)
    first = await api.call("POST", "/gifts", auth=giver, key=new_key(), json={"to": CHIPO, "wh": 100, "pin": DEMO_PIN})
    assert first.status == 201
    capped = await api.call("POST", "/gifts", auth=giver, key=new_key(), json={"to": CHIPO, "wh": 100, "pin": DEMO_PIN})
    assert (capped.status, capped.code) == (429, "DAILY_LIMIT")
    assert int(capped.headers["Retry-After"]) >= 1

    # Three PIN checks are used above (sign-in and two gifts); the number's four a minute are shared with USSD.
    assert (await api.buy(giver, 100)).status == 201
    limited = await api.buy(giver, 100)
    assert (limited.status, limited.code) == (429, "PIN_RATE_LIMITED")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60


async def test_failed_sign_ins_from_one_address_run_out(strict: World) -> None:
    api = Api(strict)
    for _ in range(3):
        failed = await api.call("POST", "/session", json={"phone": unique_phone(), "pin": "4827"})
        assert (failed.status, failed.code) == (401, "INVALID_CREDENTIALS")
    blocked = await api.call("POST", "/session", json={"phone": CHIPO, "pin": DEMO_PIN})
    assert (blocked.status, blocked.code) == (429, "SIGN_IN_LIMITED")
    assert int(blocked.headers["Retry-After"]) >= 1


async def test_browsers_may_call_from_allowed_origins_only(strict: World) -> None:
    api = Api(strict)
    preflight = await strict.client.options(
        "/api/v1/wallet",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    allowed = await api.call("GET", "/wallet", headers={"Origin": ORIGIN})
    assert allowed.status == 401
    assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
    other = await api.call("GET", "/wallet", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


async def test_the_docs_and_the_openapi_document_are_served_without_a_cdn(world: World) -> None:
    client = world.client
    document = await client.get("/api/v1/openapi.json")
    assert document.status == 200
    assert (await document.json())["openapi"].startswith("3.1")
    page = await client.get("/api/v1/docs")
    html = await page.text()
    assert page.status == 200
    assert "swagger-ui-bundle.js" in html
    assert "http" not in html  # every asset from this server
    bundle = await client.get("/api/v1/docs/assets/swagger-ui-bundle.js")
    assert bundle.status == 200


async def test_an_unexpected_failure_is_a_500_envelope_that_tells_nothing_inside(world: World) -> None:
    api = Api(world)
    token = await api.sign_in(CHIPO)

    async def broken(_user: object) -> None:
        raise RuntimeError("disk on fire at /var/lib/secret")

    world.platform.wallet.balances = broken  # type: ignore[method-assign,assignment]
    answer = await api.call("GET", "/wallet", auth=token)

    assert (answer.status, answer.code) == (500, "INTERNAL_ERROR")
    assert "disk" not in str(answer.body)
    assert "Traceback" not in str(answer.body)
