"""Mobile money through the REST API, on SQLite and PostgreSQL: who may start what, PINs, limits, idempotency.

A retry with the same Idempotency-Key starts nothing new; money leaves a
wallet only with its owner's PIN in the request; a limit is refused with
what it is and what is left.
"""

from __future__ import annotations

from typing import Any

from engine.access.model import Scope
from engine.identity.model import User
from tests.e2e.api_client import MWILA, Api, new_key
from tests.e2e.conftest import World
from tests.e2e.journeys import WRONG_PIN
from tests.e2e.payments import HOLD_MS, mobile_money_user, provider_of, provider_rule, settled
from tests.support.phones import unique_phone
from ussd_server.demo import DEMO_PIN


def money(ngwee: int) -> dict[str, Any]:
    return {"ngwee": ngwee, "currency": "ZMW"}


async def signed_in(world: World, name: str = "Bupe Zulu") -> tuple[Api, User, str]:
    api = Api(world)
    user = await mobile_money_user(world, "en", name)
    return api, user, await api.sign_in(user.phone)


async def deposit(api: Api, auth: str, phone: str, ngwee: int, key: str | None = None) -> Any:
    return await api.call(
        "POST", f"/users/{phone}/deposits", auth=auth, json={"amount_ngwee": ngwee}, key=key or new_key()
    )


async def withdraw(api: Api, auth: str, phone: str, ngwee: int, *, pin: str = DEMO_PIN, key: str | None = None) -> Any:
    body = {"amount_ngwee": ngwee, "pin": pin}
    return await api.call("POST", f"/users/{phone}/withdrawals", auth=auth, json=body, key=key or new_key())


# --- deposits ---------------------------------------------------------------------------


async def test_the_same_key_twice_starts_one_deposit(world: World) -> None:
    api, user, token = await signed_in(world)
    key = new_key()

    first = await deposit(api, token, user.phone, 5000, key)
    retry = await deposit(api, token, user.phone, 5000, key)

    assert first.status == retry.status == 202, first.body
    assert retry.body == first.body
    assert retry.headers.get("Idempotent-Replayed") == "true"
    started = first.data
    assert started["direction"] == "deposit"
    assert started["amount"] == money(5000)
    assert started["provider"] == provider_of(world, user)
    assert started["phone"] == user.phone
    assert started["received"] is False
    assert started["state"] in ("created", "submitted", "pending", "successful")
    listed = await api.call("GET", f"/users/{user.phone}/payments", auth=token)
    assert [p["id"] for p in listed.data] == [started["id"]], "one key, one payment"
    one = await api.call("GET", f"/payments/{started['id']}", auth=token)
    assert (one.data["reference"], one.data["amount"]) == (started["reference"], money(5000))

    other = await deposit(api, token, user.phone, 5000)
    assert other.status == 202
    assert other.data["id"] != started["id"], "a new key is a new deposit"
    for payment_id in (started["id"], other.data["id"]):
        await settled(world, payment_id)  # the provider simulator approves as the user's handset would
    assert (await api.wallet(token))["money"] == money(500 + 2 * 5000)
    await world.sms_containing(user.phone, started["reference"][:5])
    ended = await api.call("GET", f"/payments/{started['id']}", auth=token)
    assert (ended.data["state"], ended.data["final"]) == ("successful", True)
    assert ended.data["provider_reference"]
    statement = (await api.call("GET", "/wallet/statement", auth=token)).data
    deposits = {line["reference"] for line in statement if line["kind"] == "deposit"}
    assert deposits == {started["reference"], other.data["reference"]}


async def test_a_deposit_without_a_key_is_refused_and_starts_nothing(world: World) -> None:
    api, user, token = await signed_in(world)

    answer = await api.call("POST", f"/users/{user.phone}/deposits", auth=token, json={"amount_ngwee": 5000})

    assert (answer.status, answer.code) == (400, "IDEMPOTENCY_KEY_MISSING")
    assert await world.platform.payments.history(user) == []


async def test_a_deposit_over_a_limit_says_the_limit_and_what_is_left(world: World) -> None:
    api, user, token = await signed_in(world)
    tier = world.platform.payments.config.tier(user.kyc_tier)

    over = await deposit(api, token, user.phone, tier.per_transaction + 1)

    assert (over.status, over.code) == (422, "PAYMENT_LIMIT")
    assert over.details == {
        "kind": "per_transaction",
        "limit_ngwee": tier.per_transaction,
        "left_ngwee": tier.per_transaction,
        "tier": tier.tier,
    }
    assert "Retry-After" not in over.headers, "waiting does not lift a limit on the amount"
    for _ in range(tier.per_day // tier.per_transaction):
        assert (await deposit(api, token, user.phone, tier.per_transaction)).status == 202
    key = new_key()
    daily = await deposit(api, token, user.phone, 100, key)
    assert (daily.status, daily.code) == (422, "PAYMENT_LIMIT")
    assert (daily.details["kind"], daily.details["limit_ngwee"], daily.details["left_ngwee"]) == (
        "daily",
        tier.per_day,
        0,
    )
    again = await deposit(api, token, user.phone, 100, key)
    assert (again.status, again.body) == (422, daily.body), "a refusal is the answer a retry gets"
    assert len(await world.platform.payments.history(user)) == tier.per_day // tier.per_transaction


async def test_a_network_without_mobile_money_is_refused(world: World) -> None:
    api = Api(world)
    phone = "+26098" + unique_phone()[-7:]  # Beeline: no provider of ours
    await world.platform.users.register(phone=phone, name="Bupe Zulu", language="en", pin=DEMO_PIN)
    token = await api.sign_in(phone)

    answer = await deposit(api, token, phone, 5000)

    assert (answer.status, answer.code) == (422, "PROVIDER_UNAVAILABLE")


# --- who may do what ----------------------------------------------------------------------


async def test_scopes_keep_each_caller_to_what_it_may_do(world: World) -> None:
    api, user, token = await signed_in(world)
    _, other, other_token = await signed_in(world, "Chanda Mulenga")
    partner_key, admin_key = await api.api_key(Scope.PARTNER), await api.api_key(Scope.ADMIN)

    # A user's token acts for its own number only; a read key moves nothing.
    assert (await deposit(api, token, other.phone, 5000)).code == "FORBIDDEN"
    assert (await deposit(api, await api.api_key(Scope.READ), user.phone, 5000)).status == 403
    # A partner may start a deposit (the user approves it on their handset), never a withdrawal.
    started = await deposit(api, partner_key, user.phone, 5000)
    assert started.status == 202, started.body
    assert (await withdraw(api, partner_key, user.phone, 100)).status == 403
    assert (await deposit(api, partner_key, "+260971999999", 5000)).code == "USER_NOT_FOUND"
    # Reading: the owner and partners; another user learns nothing, not even that it exists.
    path = f"/payments/{started.data['id']}"
    assert (await api.call("GET", path, auth=token)).status == 200
    assert (await api.call("GET", path, auth=partner_key)).status == 200
    hidden = await api.call("GET", path, auth=other_token)
    assert (hidden.status, hidden.code) == (404, "PAYMENT_NOT_FOUND")
    assert (await api.call("GET", f"/users/{user.phone}/payments", auth=other_token)).status == 403
    assert len((await api.call("GET", f"/users/{user.phone}/payments", auth=partner_key)).data) == 1
    # Operators only: the review queue and settling a payment by hand.
    assert (await api.call("GET", "/payments/review", auth=partner_key)).status == 403
    assert (await api.call("GET", "/payments/review", auth=token)).status == 403
    assert (await api.call("GET", "/payments/review", auth=admin_key)).status == 200
    resolve = {"outcome": "failed", "note": "checked with the provider"}
    refused = await api.call("POST", f"{path}/resolve", auth=partner_key, json=resolve, key=new_key())
    assert refused.status == 403
    assert (await api.call("POST", f"{path}/recheck", auth=token)).status == 403


# --- withdrawals -----------------------------------------------------------------------------


async def test_a_withdrawal_needs_the_right_pin_and_reserves_the_amount_once(world: World) -> None:
    api, user, token = await signed_in(world)
    await provider_rule(world, msisdn=user.phone, kind="disbursement", delay_ms=HOLD_MS)  # not paid out yet

    wrong = await withdraw(api, token, user.phone, 250, pin=WRONG_PIN)
    assert (wrong.status, wrong.code) == (422, "WRONG_PIN")
    assert wrong.details["attempts_left"] == 2
    assert (await api.wallet(token))["money"] == money(500)
    assert await world.platform.payments.history(user) == []
    no_pin = await api.call(
        "POST", f"/users/{user.phone}/withdrawals", auth=token, json={"amount_ngwee": 250}, key=new_key()
    )
    assert (no_pin.status, no_pin.code) == (400, "INVALID_REQUEST")

    key = new_key()
    first = await withdraw(api, token, user.phone, 250, key=key)
    retry = await withdraw(api, token, user.phone, 250, key=key)

    assert first.status == retry.status == 202, first.body
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert (first.data["direction"], first.data["amount"]) == ("withdrawal", money(250))
    assert len(await world.platform.payments.history(user)) == 1
    wallet = await api.wallet(token)
    assert (wallet["money"], wallet["reserved"]["money"]) == (money(250), money(250)), "reserved at once"


async def test_a_withdrawal_over_the_balance_or_a_limit_is_refused(world: World) -> None:
    api, user, token = await signed_in(world)
    tier = world.platform.payments.config.tier(user.kyc_tier)

    short = await withdraw(api, token, user.phone, 501)
    over = await withdraw(api, token, user.phone, tier.per_transaction + 1)

    assert (short.status, short.code) == (422, "INSUFFICIENT_FUNDS")
    assert (over.status, over.code, over.details["kind"]) == (422, "PAYMENT_LIMIT", "per_transaction")
    assert (await api.wallet(token))["money"] == money(500)
    assert await world.platform.payments.history(user) == []


# --- sends between wallets -------------------------------------------------------------------


async def test_sending_money_names_the_recipient_and_moves_it_once(world: World) -> None:
    api, user, token = await signed_in(world, "Chola Mumba")
    mwila = await world.user(MWILA)
    before = (await world.balances(MWILA)).ngwee
    body = {"to_phone": "0977 123 456", "amount_ngwee": 200, "pin": DEMO_PIN}
    key = new_key()

    sent = await api.call("POST", f"/users/{user.phone}/transfers", auth=token, json=body, key=key)
    retry = await api.call("POST", f"/users/{user.phone}/transfers", auth=token, json=body, key=key)

    assert sent.status == retry.status == 201, sent.body
    assert retry.body == sent.body
    assert (sent.data["to_phone"], sent.data["to_name"], sent.data["amount"]) == (MWILA, "Mwila B.", money(200))
    assert (await api.wallet(token))["money"] == money(300)
    assert (await world.balances(MWILA)).ngwee == before + 200
    shown = sent.data["reference"][:5]
    assert "Mwila B." in await world.sms_containing(user.phone, shown)
    assert "Chola M." in await world.sms_containing(mwila.phone, shown)
    listed = await api.call("GET", f"/users/{user.phone}/payments", auth=token)
    assert [(p["direction"], p["received"]) for p in listed.data] == [("transfer", False)]
    # The mini-statement names it on both sides.
    for who, kind, ngwee in ((token, "money_sent", -200), (await api.sign_in(MWILA), "money_received", 200)):
        [line, *_] = (await api.call("GET", "/wallet/statement", auth=who)).data
        assert (line["reference"], line["kind"], line["money"]) == (sent.data["reference"], kind, money(ngwee))


async def test_a_send_is_refused_without_the_pin_or_to_a_stranger(world: World) -> None:
    api, user, token = await signed_in(world, "Chola Mumba")
    path = f"/users/{user.phone}/transfers"

    wrong = await api.call(
        "POST", path, auth=token, json={"to_phone": MWILA, "amount_ngwee": 200, "pin": WRONG_PIN}, key=new_key()
    )
    stranger = await api.call(
        "POST",
        path,
        auth=token,
        json={"to_phone": unique_phone(), "amount_ngwee": 200, "pin": DEMO_PIN},
        key=new_key(),
    )

    assert (wrong.status, wrong.code) == (422, "WRONG_PIN")
    assert (stranger.status, stranger.code) == (404, "COUNTERPARTY_NOT_FOUND")
    assert (await api.wallet(token))["money"] == money(500)


# --- reading and operators ----------------------------------------------------------------------


async def test_payments_are_paged_newest_first(world: World) -> None:
    api, user, token = await signed_in(world)
    ids = [(await deposit(api, token, user.phone, 100 * (i + 1))).data["id"] for i in range(3)]

    first = await api.call("GET", f"/users/{user.phone}/payments?limit=2", auth=token)
    cursor = first.body["meta"]["next_cursor"]
    second = await api.call("GET", f"/users/{user.phone}/payments?limit=2&cursor={cursor}", auth=token)

    assert [p["id"] for p in first.data] + [p["id"] for p in second.data] == ids[::-1]
    assert second.body["meta"]["next_cursor"] is None
    bad = await api.call("GET", f"/users/{user.phone}/payments?cursor=abc", auth=token)
    assert (bad.status, bad.code) == (422, "INVALID_INPUT")


async def test_an_operator_settles_a_payment_the_provider_never_answered_once(world: World) -> None:
    api, user, token = await signed_in(world)
    admin = await api.api_key(Scope.ADMIN)
    for kind in ("collection", "disbursement"):
        await provider_rule(world, msisdn=user.phone, kind=kind, delay_ms=HOLD_MS)
    deposited = await deposit(api, token, user.phone, 5000)
    withdrawn = await withdraw(api, token, user.phone, 300)
    assert (await api.wallet(token))["money"] == money(200)

    credit = await api.call(
        "POST",
        f"/payments/{deposited.data['id']}/resolve",
        auth=admin,
        json={"outcome": "successful", "note": "MTN statement shows it"},
        key=new_key(),
    )
    release = await api.call(
        "POST",
        f"/payments/{withdrawn.data['id']}/resolve",
        auth=admin,
        json={"outcome": "failed", "note": "MTN has no record"},
        key=new_key(),
    )

    assert credit.status == release.status == 200, (credit.body, release.body)
    assert (credit.data["state"], release.data["state"]) == ("successful", "failed")
    assert (await api.wallet(token))["money"] == money(500 + 5000), "credited once, the reservation released"
    await world.sms_containing(user.phone, deposited.data["reference"][:5])
    await world.sms_containing(user.phone, withdrawn.data["reference"][:5])
    again = await api.call(
        "POST",
        f"/payments/{withdrawn.data['id']}/resolve",
        auth=admin,
        json={"outcome": "successful", "note": "changed my mind"},
        key=new_key(),
    )
    assert (again.status, again.code) == (422, "PAYMENT_FINAL")
    recheck = await api.call("POST", f"/payments/{withdrawn.data['id']}/recheck", auth=admin)
    assert (recheck.status, recheck.data["state"]) == (200, "failed"), "an ended payment is answered as it stands"
    assert (await api.wallet(token))["money"] == money(500 + 5000)
    missing = await api.call("GET", "/payments/dep-unknown", auth=admin)
    assert (missing.status, missing.code) == (404, "PAYMENT_NOT_FOUND")
