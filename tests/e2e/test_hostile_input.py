"""Whatever a handset, a gateway or an attacker sends, the server answers like a USSD app.

Properties checked on every reply: never a 5xx; a 200 always starts ``CON ``
or ``END `` and is at most 160 characters; no hop falls into the internal
error path ("Sorry, something went wrong"); and the ledger still verifies at
the end.
"""

from __future__ import annotations

import asyncio
import string
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import FormData
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.ledger.verify import verify_ledger
from simulator.protocol import new_session_id
from tests.e2e.conftest import World
from tests.support.gateway import SERVICE_CODE, check_reply
from tests.support.phones import unique_phone
from ussd_server.demo import DEMO_PIN

LONG_INPUT = 182  # the most a USSD handset lets anyone type in one go

_SPECIAL = [
    "",
    "0",
    "00",
    "98",
    "1",
    "2",
    "3",
    "4",
    "*",
    "#",
    "**",
    "*#",
    "¡",
    "¡¡x",
    DEMO_PIN,
    "4826",
    "1.5",
    "0.001",
    "-1",
    "1e9",
    "999999999999",
    "0977123456",
    "+260977123456",
    "'; DROP TABLE users; --",
    "1 OR 1=1",
    "Robert'); DELETE FROM transfers;--",
    "%s%s%n{0}{name}",
    "\x00",
    "\x1b[2J",
    "\r\n",
    "\t",
    "💡⚡",
    "Ŵéïrd Ñame",
    "Zoë-Ann O'Neil",
    "٣٤٥٦",
    "１２３４",
    "A" * LONG_INPUT,
    "9" * LONG_INPUT,
]
INPUTS = st.one_of(
    st.sampled_from(_SPECIAL),
    st.sampled_from(["1", "2", "3", "4", "1", DEMO_PIN, "0977123456", "2.5"]),  # go deeper into journeys
    st.text(max_size=24),
    st.from_regex(r"[0-9*#]{0,10}", fullmatch=True),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=LONG_INPUT - 20, max_size=LONG_INPUT),
)
HYPOTHESIS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def on_this_loop() -> Callable[[Coroutine[Any, Any, None]], None]:
    """Hypothesis drives sync functions: run each example's coroutine on the test's loop from its thread."""
    loop = asyncio.get_running_loop()

    def run(coro: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)

    return run


def _no_internal_error(body: str, what: Any) -> None:
    assert "something went wrong" not in body, f"a hop fell into the internal error path: {body!r} after {what!r}"


async def _ledger_verifies(world: World) -> None:
    report = await verify_ledger(world.platform.store.ledger)
    assert report.ok, report


async def test_random_input_sequences_never_break_a_screen(world: World) -> None:
    registered = await world.new_user("bem", "Hostile Tester")
    await world.platform.clusters.buy(buyer=registered, cluster_id="cb-kitwe-solar-park", wh=4000, operation_id="h")
    numbers = [registered.phone, unique_phone(), unique_phone()]

    async def caller(who: str, inputs: list[str]) -> None:
        phone = world.phone(who)
        _no_internal_error(await phone.dial(), "dial")
        for value in inputs:
            if phone.ended:
                _no_internal_error(await phone.dial(), inputs)
            _no_internal_error(await phone.send(value), inputs)

    run = on_this_loop()

    @HYPOTHESIS
    @given(who=st.sampled_from(numbers), inputs=st.lists(INPUTS, max_size=9))
    def one_caller(who: str, inputs: list[str]) -> None:
        run(caller(who, inputs))

    await asyncio.to_thread(one_caller)
    await _ledger_verifies(world)
    b = await world.platform.wallet.balances(await world.user(registered.phone))
    assert min(b.ngwee, b.wh) >= 0, b


FIELDS = ("sessionId", "serviceCode", "phoneNumber", "networkCode", "text")
FIELD_VALUES = st.one_of(
    st.sampled_from(["", SERVICE_CODE, "*384*2025", "*999#", "+260977123456", "0977123456", "+254712345678", "1*2"]),
    st.text(max_size=30),
    st.text(min_size=1900, max_size=2100, alphabet="9*"),
)


async def test_random_forms_never_get_a_server_error(world: World) -> None:
    forms = st.dictionaries(
        st.one_of(st.sampled_from(FIELDS), st.text(alphabet=string.ascii_letters + "[]_", min_size=1, max_size=8)),
        FIELD_VALUES,
        max_size=7,
    )

    async def request(form: dict[str, str], content_type: str | None) -> None:
        data: Any = form
        if content_type == "multipart/form-data":
            data = FormData(form, default_to_multipart=True)
        reply = await world.gateway.post("/ussd", data)
        assert reply.status < 500, f"HTTP {reply.status} for {form!r}: {reply.body[:200]!r}"
        if reply.status == 200:
            check_reply(reply, repr(form))
            _no_internal_error(reply.body, form)

    run = on_this_loop()

    @settings(HYPOTHESIS, max_examples=120)
    @given(form=forms, content_type=st.sampled_from([None, None, "multipart/form-data"]))
    def one_request(form: dict[str, str], content_type: str | None) -> None:
        run(request(form, content_type))

    await asyncio.to_thread(one_request)
    await _ledger_verifies(world)


def _form(**overrides: str) -> dict[str, str]:
    form = {
        "sessionId": new_session_id(),
        "serviceCode": SERVICE_CODE,
        "phoneNumber": unique_phone(),
        "networkCode": "64501",
        "text": "",
    }
    form.update(overrides)
    return form


async def test_malformed_requests(world: World) -> None:
    post = world.gateway.post
    # missing fields
    for field in ("sessionId", "serviceCode", "phoneNumber", "text"):
        form = _form()
        del form[field]
        reply = await post("/ussd", form)
        assert reply.status == 400, (field, reply)
    # networkCode is optional: AT always sends it, but it carries no meaning for us
    form = _form()
    del form["networkCode"]
    check_reply(await post("/ussd", form), "no networkCode")
    # unknown service code: a polite END
    reply = await post("/ussd", _form(serviceCode="*999#"))
    assert check_reply(reply) == "END " + world.t("en", "err.unknown_service")
    # wrong content type, oversized body, bad session ids, oversized fields
    reply = await post("/ussd", '{"sessionId": "x"}', headers={"Content-Type": "application/json"})
    assert reply.status == 415, reply
    reply = await post("/ussd", "sessionId=x", headers={"Content-Type": "text/plain"})
    assert reply.status == 415, reply
    reply = await post("/ussd", _form(text="1*" * 6000))
    assert reply.status == 413, reply
    for bad in ("", "   ", "x" * 201):
        assert (await post("/ussd", _form(sessionId=bad))).status == 400, repr(bad)
    assert (await post("/ussd", _form(text="1" * 2001))).status == 400
    # bytes that are not UTF-8 in a urlencoded body
    # non-Zambian or non-mobile numbers
    for number in ("+254712345678", "+260211123456", "260", "abc", "", "+26097712345", "+2609771234567"):
        reply = await post("/ussd", _form(phoneNumber=number))
        assert check_reply(reply, number) == "END " + world.t("en", "err.not_zambian"), number
    # a session id never seen before, arriving with inputs already in it
    user = await world.new_user("ny", "Malformed Tester")
    reply = await post("/ussd", _form(phoneNumber=user.phone, text="1"))
    body = check_reply(reply, "unknown session with text")
    _no_internal_error(body, "unknown session with text")
    # a session id reused after the session ended
    form = _form(phoneNumber=user.phone)
    check_reply(await post("/ussd", form))
    for text in ("1", "1*2", "1*2*1", "1*2*1*5", ""):
        reply = await post("/ussd", {**form, "text": text})
        _no_internal_error(check_reply(reply, f"reused session text={text!r}"), text)
    await _ledger_verifies(world)


async def test_a_form_body_that_is_not_utf8_is_a_client_error(world: World) -> None:
    raw = b"sessionId=ATUid_raw&serviceCode=%2A384%2A2025%23&phoneNumber=%2B260977000001&text=\xff\xfe"
    reply = await world.gateway.post("/ussd", raw, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status == 400, (
        f"a urlencoded body with raw non-UTF-8 bytes must be refused as a bad request, got HTTP {reply.status} "
        f"{reply.body[:80]!r} (routes._form lets request.post()'s UnicodeDecodeError escape)"
    )


async def test_a_session_id_cannot_be_taken_over_by_another_number(world: World) -> None:
    victim = await world.new_user("en", "Victim Person")
    await world.platform.clusters.buy(buyer=victim, cluster_id="kbw-campus-solar", wh=4000, operation_id="v")
    phone = world.phone(victim.phone)
    await phone.dial()
    wallet = await phone.send("1")
    assert "4 kWh" in wallet

    intruder = unique_phone()
    form = phone.form(text=phone.text + "*1")  # the victim's session, one more input ...
    form["phoneNumber"] = intruder  # ... sent from another number
    reply = await world.gateway.post("/ussd", form)
    body = check_reply(reply, "session takeover")

    assert not any(leak in body for leak in ("Last transactions", "4 kWh")), (
        f"a hop from {intruder} on {victim.phone}'s sessionId was served as the victim's session: {body!r}"
    )
