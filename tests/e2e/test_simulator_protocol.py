"""The simulator sends exactly what Africa's Talking sends, checked on a stub server that records every form.

The stub answers like a tiny AT app (``CON`` until the text has three inputs,
then ``END``), so the tests see the wire: a new sessionId per dial, the
cumulative ``*``-joined text (empty inputs included), the operator's
networkCode, and one end-of-session notification with the right status.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from simulator.numbers import local_format, network_of, to_e164
from simulator.phone import Phone, split_dial
from simulator.protocol import (
    PHONE_ERROR_TEXT,
    Clock,
    Endpoints,
    GatewayClient,
    PhoneSession,
    SessionClosed,
    ShiftClock,
    Timeouts,
)
from simulator.screen import ScreenView, framed, options, wrap

SHORTCODE = "*384*2025#"


@dataclass
class Stub:
    hops: list[dict[str, str]] = field(default_factory=list)
    events: list[dict[str, str]] = field(default_factory=list)
    reply: str | None = None  # a fixed (possibly broken) reply instead of the normal behaviour
    status: int = 200


async def _form(request: web.Request) -> dict[str, str]:
    assert request.content_type == "application/x-www-form-urlencoded"
    return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}


@pytest.fixture
async def stub() -> AsyncIterator[tuple[Stub, GatewayClient]]:
    state = Stub()

    async def ussd(request: web.Request) -> web.Response:
        form = await _form(request)
        state.hops.append(form)
        if state.reply is not None:
            return web.Response(text=state.reply, status=state.status, content_type="text/plain")
        inputs = form["text"].split("*") if form["text"] else []
        prefix = "END" if len(inputs) >= 3 else "CON"
        return web.Response(text=f"{prefix} screen {len(inputs)}\n1 Next", content_type="text/plain")

    async def events(request: web.Request) -> web.Response:
        state.events.append(await _form(request))
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_post("/ussd", ussd)
    app.router.add_post("/ussd/events", events)
    server = TestServer(app)
    await server.start_server()
    client = GatewayClient.open(server.make_url("/"))
    try:
        yield state, client
    finally:
        await client.close()
        await server.close()


def session(
    client: GatewayClient,
    phone: str = "+260977123456",
    *,
    clock: Clock = time.monotonic,
    timeouts: Timeouts | None = None,
) -> PhoneSession:
    return PhoneSession(
        client, phone=phone, service_code=SHORTCODE, network_code=network_of(phone)[1], clock=clock, timeouts=timeouts
    )


async def test_each_dial_gets_a_new_at_like_session_id(stub: tuple[Stub, GatewayClient]) -> None:
    state, client = stub
    phone = Phone("+260977123456")
    await phone.dial(client, SHORTCODE)
    await phone.dial(client, SHORTCODE)

    ids = [hop["sessionId"] for hop in state.hops]
    assert len(set(ids)) == 2, "a second dial must not reuse the first sessionId"
    assert all(re.fullmatch(r"ATUid_[0-9a-f]{32}", i) for i in ids), ids
    assert [e["status"] for e in state.events] == ["Incomplete"], "dialling again hangs up the open session first"


async def test_text_is_cumulative_exactly_like_at(stub: tuple[Stub, GatewayClient]) -> None:
    state, client = stub
    s = session(client)
    await s.start()
    await s.reply("1")
    await s.reply("")  # an empty answer
    assert [h["text"] for h in state.hops] == ["", "1", "1*"], "an empty input leaves a trailing *"

    state.hops.clear()
    s = session(client)
    await s.start()
    await s.reply("")
    await s.reply("")
    await s.reply("2")
    assert [h["text"] for h in state.hops] == ["", "", "*", "**2"], "empty inputs leave **"

    for hop in state.hops:
        assert set(hop) == {"sessionId", "serviceCode", "phoneNumber", "networkCode", "text"}
        assert (hop["serviceCode"], hop["phoneNumber"], hop["networkCode"]) == (SHORTCODE, "+260977123456", "64501")


async def test_network_code_follows_the_number_prefix(stub: tuple[Stub, GatewayClient]) -> None:
    state, client = stub
    for number in ("0977123456", "0966234567", "0955345678", "0761456789"):
        await Phone(number).dial(client, SHORTCODE)
    assert [(h["phoneNumber"], h["networkCode"]) for h in state.hops] == [
        ("+260977123456", "64501"),  # Airtel
        ("+260966234567", "64502"),  # MTN
        ("+260955345678", "64503"),  # Zamtel
        ("+260761456789", "64502"),  # MTN
    ]


async def test_end_reply_sends_a_success_notification(stub: tuple[Stub, GatewayClient]) -> None:
    state, client = stub
    clock = ShiftClock()
    s = session(client, clock=clock)
    await s.start()
    clock.advance(2.5)
    await s.reply("1")
    await s.reply("2")
    reply = await s.reply("3")

    assert reply.end, reply
    assert reply.text.startswith("screen 3"), reply
    assert s.closed
    assert s.status == "Success"
    [event] = state.events
    assert event["sessionId"] == s.session_id
    assert event["status"] == "Success"
    assert event["hopsCount"] == "4"
    assert event["input"] == "1*2*3"
    assert event["lastAppResponse"] == "END screen 3\n1 Next"
    assert event["errorMessage"] == ""
    assert int(event["durationInMillis"]) >= 2500
    assert (event["phoneNumber"], event["serviceCode"], event["networkCode"]) == ("+260977123456", SHORTCODE, "64501")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", event["date"]), event["date"]
    assert event["cost"]
    with pytest.raises(SessionClosed):
        await s.reply("4")
    assert len(state.hops) == 4, "nothing is sent after END"


async def test_cancel_sends_incomplete_once(stub: tuple[Stub, GatewayClient]) -> None:
    state, client = stub
    s = session(client)
    await s.start()
    await s.reply("1")
    await s.cancel()
    await s.cancel()

    assert [(e["status"], e["input"], e["hopsCount"]) for e in state.events] == [("Incomplete", "1", "2")]
    assert state.events[0]["lastAppResponse"] == "CON screen 1\n1 Next"


async def test_idle_past_the_answer_timeout_fails_the_session(stub: tuple[Stub, GatewayClient]) -> None:
    state, client = stub
    clock = ShiftClock()
    s = session(client, clock=clock, timeouts=Timeouts(answer_s=60, session_s=180))
    await s.start()
    clock.advance(59)
    assert not await s.check_timeout(), "59 s is still within the answer timeout"
    await s.reply("1")
    clock.advance(60)

    assert await s.check_timeout()
    [event] = state.events
    assert (event["status"], event["input"], event["hopsCount"]) == ("Failed", "1", "2")
    assert "timed out" in event["errorMessage"]
    assert int(event["durationInMillis"]) >= 119_000
    with pytest.raises(SessionClosed, match="timed out"):
        await s.reply("2")
    assert len(state.hops) == 2


async def test_a_long_session_times_out_even_when_answered(stub: tuple[Stub, GatewayClient]) -> None:
    state, client = stub
    state.reply = "CON still here"
    clock = ShiftClock()
    s = session(client, clock=clock, timeouts=Timeouts(answer_s=60, session_s=180))
    await s.start()
    for _ in range(3):
        clock.advance(50)
        await s.reply("1")  # every answer well within 60 s
    clock.advance(31)
    with pytest.raises(SessionClosed, match="timed out"):
        await s.reply("1")
    assert state.events[0]["status"] == "Failed", "181 s is past the 180 s session limit"
    assert "session longer than 180 s" in state.events[0]["errorMessage"]


@pytest.mark.parametrize(
    ("body", "status"),
    [("Hello without a prefix", 200), ("END oops", 500), ("", 200)],
)
async def test_a_reply_a_phone_cannot_show_fails_the_session(
    stub: tuple[Stub, GatewayClient], body: str, status: int
) -> None:
    state, client = stub
    state.reply, state.status = body, status
    s = session(client)
    reply = await s.start()

    assert reply.end, reply
    assert reply.text == PHONE_ERROR_TEXT, "the phone shows what handsets show for a broken reply"
    assert reply.error, reply
    [event] = state.events
    assert event["status"] == "Failed"
    assert event["errorMessage"] == reply.error


async def test_an_unreachable_server_shows_the_phone_error() -> None:
    client = GatewayClient.open("http://127.0.0.1:9", timeouts=Timeouts(app_reply_s=2))
    try:
        reply = await session(client).start()
    finally:
        await client.close()
    assert reply.end
    assert reply.text == PHONE_ERROR_TEXT
    assert "no reply" in reply.error


async def test_a_code_dialled_with_inputs_sends_them_in_the_first_text(stub: tuple[Stub, GatewayClient]) -> None:
    state, client = stub
    assert split_dial("*384*2025*1*2#", SHORTCODE) == (SHORTCODE, ("1", "2"))
    assert split_dial("*123#", SHORTCODE) == ("*123#", ())
    phone = Phone("0977123456")
    await phone.dial(client, "*384*2025*1#", shortcode=SHORTCODE)
    await phone.reply("2")
    assert [(h["serviceCode"], h["text"]) for h in state.hops] == [(SHORTCODE, "1"), (SHORTCODE, "1*2")]


def test_endpoints_from_a_base_or_a_callback_url() -> None:
    base = Endpoints.from_url("http://127.0.0.1:8000")
    assert (str(base.ussd), str(base.events), str(base.sms_inbox)) == (
        "http://127.0.0.1:8000/ussd",
        "http://127.0.0.1:8000/ussd/events",
        "http://127.0.0.1:8000/dev/sms",
    )
    other = Endpoints.from_url("https://team.example/at/callback", events_url="https://team.example/at/end")
    assert (str(other.ussd), str(other.events)) == ("https://team.example/at/callback", "https://team.example/at/end")


def test_numbers_in_every_spelling() -> None:
    for spelling in ("0977123456", "260977123456", "+260 97 712 3456", "+260-977-123-456"):
        assert to_e164(spelling) == "+260977123456"
    assert local_format("+260977123456") == "0977123456"
    with pytest.raises(ValueError, match="not a Zambian mobile"):
        to_e164("+254711000111")


def test_the_screen_wraps_like_a_small_phone() -> None:
    text = "Buy 1.5 kWh from Chelstone Neighbourhood Solar for K1.80. Enter PIN to confirm:\n0 Back 00 Home"
    lines = wrap(text, 24)
    assert all(len(line) <= 24 for line in lines)
    assert " ".join(lines).split() == text.split(), "wrapping keeps every word"
    assert lines[-1] == "0 Back 00 Home", "a line break in the text stays a line break"
    assert wrap("x" * 30, 24) == ["x" * 24, "x" * 6], "a word longer than the screen is broken"

    view = ScreenView.of("\n".join(f"line {i}" for i in range(12)), height=8)
    assert (view.visible[0], view.more_below) == ("line 0", True)
    view.scroll(100)
    assert (view.visible[-1], view.more_below) == ("line 11", False)
    view.scroll(-100)
    assert view.top == 0

    box = framed("Enerlectra - Mwila\n1 My balance", title="CON").splitlines()
    assert box[1] == "|Enerlectra - Mwila      |"
    assert "CON" in box[0]
    assert options("Choose:\n1 English\n2 Chinyanja\n0 Back 00 Home") == [
        ("1", "English"),
        ("2", "Chinyanja"),
        ("0", "Back 00 Home"),
    ]
