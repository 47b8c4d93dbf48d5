"""Drills: what a careful attacker tries against PINs and limits, on real server processes.

- PIN digest brute force: read the session from Redis as someone with access
  to it (or its backups) would, and try every 4-digit PIN against the digest
  it keeps of the typed text.
- Resume to change a PIN: drop a PIN change after the new PIN is chosen and
  redial, hoping the session remembers a checked PIN.
- Gift ping-pong: two numbers pass energy back and forth to run up SMS.
- Long dial text: thousands of characters of inputs, PINs included, in the
  first hop of new sessions.
- Escalating lockout: guess, wait out the lock, guess again, until only an
  operator can help; then the operator's reset.

Each drill reports what it held and found before it asserts.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import aiohttp
import msgpack
import pytest
from redis.asyncio import Redis

from engine.identity.model import LOCKED_UNTIL_RESET, User
from engine.notifications.model import OutboxStatus
from engine.uow import Database as Store
from simulator.protocol import new_session_id
from tests.drills.conftest import Report
from tests.drills.stack import PIN, Stack, open_stack
from tests.support.gateway import Gateway, Phone, check_reply, http_gateways, option
from ussd_server.sessions.keys import session_key
from ussd_server.sessions.model import TextDigest

pytestmark = pytest.mark.drill
T = TypeVar("T")
NEW_PIN = "4826"
WRONG = "9173"
# The abuse limits at their defaults, which the load drills' environment raises.
DEFAULT_LIMITS = {
    "HOPS_PER_MINUTE": "30",
    "PIN_CHECKS_PER_MINUTE": "6",
    "GIFTS_PER_DAY": "10",
    "OFFERS_PER_DAY": "10",
    "LOOKUPS_PER_DAY": "20",
    "SMS_DAILY_CAP": "10",
}


def t(stack: Stack, user: User, key: str, **params: object) -> str:
    return stack.catalogs.render(str(user.language), key, params)


def lines(reply: str) -> list[str]:
    return reply[4:].split("\n")


async def home(stack: Stack, gateway: Gateway, user: User, *, resume: bool = False) -> Phone:
    """A new session on the home menu (declining to resume a dropped one, unless ``resume`` expects none)."""
    phone = gateway.phone(user.phone, record=False)
    reply = await phone.dial()
    if not resume and reply.startswith("CON " + t(stack, user, "resume.offer")):
        reply = await phone.send("2")
    assert reply.startswith("CON " + t(stack, user, "home.title", first_name=user.name.split()[0])), reply
    return phone


async def stored_session(stack: Stack, session_id: str) -> dict[str, object]:
    """The session as anyone who can read Redis sees it."""
    raw = Redis.from_url(stack.redis.url)
    try:
        data = await raw.get(session_key(session_id))
    finally:
        await raw.aclose()
    assert data is not None, "the session is in Redis"
    wire: dict[str, object] = msgpack.unpackb(data, raw=False)
    return wire


def wire_field(wire: dict[str, object], key: str, kind: type[T]) -> T:
    """One field of a raw stored session, as the type the session writes it with."""
    value = wire.get(key)
    assert isinstance(value, kind), f"the stored session's {key!r} is a {kind.__name__}: {wire}"
    return value


def in_clear(text: str) -> bool:
    """A PIN as typed, standing alone ("5173", "...*5173"): not four digits inside a timestamp or a hex digest."""
    return any(re.search(rf"(?<![0-9a-f]){pin}(?![0-9a-f])", text) for pin in (PIN, NEW_PIN))


def brute_force(digest: str, length: int, text_for: dict[str, str]) -> list[str]:
    """Every 4-digit PIN, placed where it was typed, against the stored digest: unkeyed, and keyed with guesses."""
    guessed_keys = [TextDigest(p.encode()) for p in ("", "dev-only-pepper-do-not-use-in-production", "enerlectra")]
    found = []
    for pin in (f"{n:04d}" for n in range(10_000)):
        for name, template in text_for.items():
            text = template.replace("PIN", pin)
            if len(text) != length:
                continue
            if hashlib.blake2b(text.encode(), digest_size=12).hexdigest() == digest or any(
                key(text) == digest for key in guessed_keys
            ):
                found.append(f"{name}:{pin}")
    return found


async def test_pin_digest_brute_force_finds_nothing(database_url: str, tmp_path: Path, report: Report) -> None:
    async with open_stack(database_url, tmp_path, callers=1) as stack, http_gateways([stack.server.url]) as [gw]:
        [user] = stack.callers
        # A purchase confirmed with the PIN: the session keeps a digest of "2*1*1*0.1*<PIN>".
        phone = await home(stack, gw, user)
        await phone.send(option(phone.last, t(stack, user, "home.buy")), "1", "1", "0.1")
        receipt = await phone.send(PIN)
        assert receipt.startswith("END "), receipt
        bought = await stored_session(stack, phone.session_id)
        # A registration: the PIN is typed twice in one text.
        newcomer = gw.phone(record=False)
        await newcomer.dial()
        await newcomer.send("1", "Chanda Mulenga", NEW_PIN, NEW_PIN)
        registered = await stored_session(stack, newcomer.session_id)
        started = time.perf_counter()
        found = brute_force(wire_field(bought, "d", str), wire_field(bought, "n", int), {"buy": "2*1*1*0.1*PIN"})
        found += brute_force(
            wire_field(registered, "d", str),
            wire_field(registered, "n", int),
            {"registration": "1*Chanda Mulenga*PIN*PIN"},
        )
        elapsed = time.perf_counter() - started
        readable = [str(v) for v in (*bought.values(), *registered.values())]

    report(
        load="1 purchase and 1 registration over HTTP; both sessions read raw from Redis",
        faults="an attacker with a copy of Redis tries all 10,000 PINs against each stored text digest "
        "(unkeyed, and keyed with guessed secrets)",
        result=f"{len(found)} PINs found in 20,000 tries ({elapsed:.1f} s); "
        f"PIN in any stored field: {any(in_clear(v) for v in readable)}",
    )
    assert found == [], f"PINs recovered from Redis: {found}"
    assert not any(in_clear(v) for v in readable), "a PIN is stored in the session in clear"


async def test_resuming_a_dropped_pin_change_never_changes_the_pin(
    database_url: str, tmp_path: Path, report: Report
) -> None:
    async with open_stack(database_url, tmp_path, callers=1) as stack, http_gateways([stack.server.url]) as [gw]:
        [user] = stack.callers
        owner = await home(stack, gw, user)
        await owner.send(option(owner.last, t(stack, user, "home.account")))
        await owner.send(option(owner.last, t(stack, user, "account.pin")))
        await owner.send(NEW_PIN)
        asked = await owner.send(NEW_PIN)
        assert lines(asked)[0] == t(stack, user, "pin.old"), asked
        dropped = await stored_session(stack, owner.session_id)
        # The call drops. Someone else holding the phone redials, again and again.
        offers = []
        for _ in range(3):
            thief = gw.phone(user.phone, record=False)
            offers.append(await thief.dial())
        # ... and tries the dropped session itself with PINs they guess.
        guesses = [await owner.send(guess) for guess in (WRONG, "7391")]
        store = await stack.open_store()
        try:
            stored = await store.users.user_by_phone(user.phone)
        finally:
            await store.close()
        assert stored is not None
        still_old = stored.pin_hash == user.pin_hash

    resumed = [o for o in offers if o.startswith("CON " + t(stack, user, "resume.offer"))]
    report(
        load="1 caller: My account > Change PIN > new PIN twice, then the call drops before the current PIN",
        faults="redial 3 times hoping to be offered the change back; then 2 guesses on the dropped session",
        result=f"resume offered {len(resumed)}/3; guesses answered {[g[:30] for g in guesses]}; "
        f"PIN unchanged: {still_old}",
    )
    assert resumed == [], "a PIN change is never offered back"
    assert not any(k in wire_field(dropped, "v", dict) for k in ("pin_ok", "pin_proof")), dropped
    assert lines(guesses[0])[0] == t(stack, user, "err.wrong_pin", attempts_left=2), guesses
    assert still_old, "the PIN changed without the current PIN"


async def test_gift_ping_pong_is_capped_and_sms_stay_within_the_daily_cap(
    database_url: str, tmp_path: Path, report: Report
) -> None:
    limits = {**DEFAULT_LIMITS, "HOPS_PER_MINUTE": "1000", "PIN_CHECKS_PER_MINUTE": "1000", "SMS_BACKEND": "inbox"}
    async with (
        open_stack(database_url, tmp_path, callers=2, settings=limits) as stack,
        http_gateways([stack.server.url]) as [gw],
    ):
        a, b = stack.callers
        gifts = {a.phone: 0, b.phone: 0}
        refusals: dict[str, str] = {}
        for _ in range(14):
            for giver, taker in ((a, b), (b, a)):
                phone = await home(stack, gw, giver)
                reply = await phone.send(option(phone.last, t(stack, giver, "home.send")))
                if lines(reply)[0] != t(stack, giver, "send.phone"):
                    refusals[giver.phone] = reply
                    continue
                await phone.send("0" + taker.phone[4:], "0.1")
                receipt = await phone.send(PIN)
                assert receipt.startswith("END "), receipt
                gifts[giver.phone] += 1
        store = await stack.open_store()
        try:
            rows = {u.phone: await store.outbox.list_outbox(recipient=u.phone, limit=500) for u in (a, b)}
        finally:
            await store.close()
        async with aiohttp.ClientSession() as http:
            inbox = {}
            for user in (a, b):
                async with http.get(f"{stack.server.url}/dev/sms", params={"phone": user.phone}) as response:
                    inbox[user.phone] = len((await response.json())["messages"])

    def counted(phone: str) -> dict[str, int]:
        ordinary = [r for r in rows[phone] if r.message.template not in ("sms.daily_summary",)]
        return {
            "queued": sum(r.status is not OutboxStatus.FOLDED for r in ordinary),
            "folded": sum(r.status is OutboxStatus.FOLDED for r in ordinary),
            "summaries": sum(r.message.template == "sms.daily_summary" for r in rows[phone]),
        }

    per_phone = {phone[-4:]: counted(phone) for phone in rows}
    report(
        load="2 callers sending each other 0.1 kWh gifts over HTTP, 14 rounds (28 tries), default caps "
        "(GIFTS_PER_DAY=10, SMS_DAILY_CAP=10)",
        faults="gift ping-pong to run up free SMS",
        result=f"gifts made {list(gifts.values())}; refused at the start: {len(refusals)}; SMS per recipient "
        f"{per_phone}; SMS delivered so far {list(inbox.values())} (the summary waits for the evening)",
    )
    assert list(gifts.values()) == [10, 10], gifts
    for user in (a, b):
        assert refusals[user.phone].startswith("CON " + t(stack, user, "cap.gifts", limit=10)), refusals
        got = counted(user.phone)
        assert got["queued"] <= 10, f"more than SMS_DAILY_CAP ordinary SMS to one number: {got}"
        assert got["summaries"] == 1, got
        assert got["folded"] >= 1, got


async def test_a_long_dial_text_walks_three_inputs_and_checks_no_pin(
    database_url: str, tmp_path: Path, report: Report
) -> None:
    async with open_stack(database_url, tmp_path, callers=1) as stack, http_gateways([stack.server.url]) as [gw]:
        [user] = stack.callers
        text = "*".join(["2", "1", "1", "0.1", PIN] * 150)[:1990]  # a dial string with the PIN, 150 times
        async with aiohttp.ClientSession() as http:

            async def runs() -> int:
                async with http.get(f"{stack.server.url}/health") as response:
                    return int((await response.json())["pin_queue"]["runs"])

            before_runs = await runs()
            started = time.perf_counter()
            replies = await asyncio.gather(
                *(gw.post("/ussd", gw.phone(user.phone).form(text, session_id=new_session_id())) for _ in range(20))
            )
            elapsed = time.perf_counter() - started
            after_runs = await runs()
        bodies = [check_reply(r, "long dial") for r in replies]
        store = await stack.open_store()
        try:
            stored = await store.users.user_by_phone(user.phone)
        finally:
            await store.close()

    kwh_prompt = t(stack, user, "buy.kwh", cluster_name="").split(":")[0]
    kwh_screen = [b for b in bodies if lines(b)[0].startswith(kwh_prompt)]
    counted = stored.pin_failures if stored else "?"
    report(
        load=f"20 new sessions at once, each a {len(text)}-character dial string (buy, region, cluster, kWh, PIN x150)",
        faults="a dial string that would replay a whole purchase, PIN included, 150 times",
        result=f"answered in {elapsed:.2f} s; KDF runs {after_runs - before_runs}; "
        f"screens {sorted({lines(b)[0][:30] for b in bodies})}; wrong PINs counted {counted}",
    )
    assert after_runs == before_runs, "a PIN typed in a dial string was checked"
    assert stored is not None
    assert stored.pin_failures == 0
    assert len(kwh_screen) == 20, f"each stopped after 3 inputs on the kWh question: {bodies[:3]}"


async def test_escalating_lockout_ends_locked_until_an_operator_resets_the_pin(
    database_url: str, tmp_path: Path, report: Report
) -> None:
    settings = {"SMS_BACKEND": "inbox"}
    async with (
        open_stack(database_url, tmp_path, callers=1, settings=settings) as stack,
        http_gateways([stack.server.url]) as [gw],
    ):
        [user] = stack.callers
        screens: list[str] = []
        store = await stack.open_store()
        try:
            for stage in range(3):
                for _ in range(3):  # three wrong PINs, each in a new session, on the buy PIN screen
                    phone = await home(stack, gw, user)
                    await phone.send(option(phone.last, t(stack, user, "home.buy")), "1", "1", "0.1")
                    reply = await phone.send(WRONG)
                screens.append(lines(reply)[0])
                locked = await store.users.user_by_phone(user.phone)
                assert locked is not None
                if stage < 2:  # the lock's time passes
                    await save_pin_state(store, replace(locked, pin_locked_until=0))
            final = await store.users.user_by_phone(user.phone)
            phone = await home(stack, gw, user)
            right = await phone.send(option(phone.last, t(stack, user, "home.buy")))
            code, output = await stack.cli("user", "reset-pin", user.phone)
            one_time = await wait_for_sms(stack, user, "sms.pin_reset")
            phone = gw.phone(user.phone, record=False)
            first = await phone.dial()
            await phone.send(NEW_PIN, NEW_PIN)
            back_home = await phone.send(one_time)
            held = await phone.send(option(phone.last, t(stack, user, "home.send")))
            rows = await store.outbox.list_outbox(recipient=user.phone, limit=100)
        finally:
            await store.close()

    lock_sms = [r for r in rows if r.message.template == "sms.pin_locked"]
    report(
        load="1 caller, 3 x 3 wrong PINs in 9 new sessions; each lock's time passed (moved in the database)",
        faults="PIN guessing that waits out each lock",
        result=f"lock screens {[s[:45] for s in screens]}; final lock until reset: "
        f"{final is not None and final.pin_locked_until == LOCKED_UNTIL_RESET}; lock SMS {len(lock_sms)}; "
        f"wrong PINs ever {final.pin_failures_total if final else '?'}; reset-pin exit {code}; after the reset: "
        f"{lines(first)[0][:35]!r} -> {lines(back_home)[0]!r}; sending: {lines(held)[0][:40]!r}",
    )
    assert screens[0] == t(stack, user, "lock.minutes", minutes=30)
    assert screens[1].startswith("Your PIN is locked for 24 more hours"), screens
    assert screens[2] == t(stack, user, "lock.reset")
    assert final is not None
    assert final.pin_locked_until == LOCKED_UNTIL_RESET
    assert final.pin_failures_total == 9
    assert lines(right)[0] == t(stack, user, "lock.reset"), "locked even for the right PIN, at the start"
    assert len(lock_sms) == 3, "an SMS to the owner on every lock"
    assert code == 0, output
    assert lines(first)[0] == t(stack, user, "reset.new")
    assert lines(back_home)[0] == t(stack, user, "pin.done")
    assert lines(held)[0].startswith(t(stack, user, "hold.until", until="").split(" until")[0]), held


async def save_pin_state(store: Store, user: User) -> None:
    """Write a user's PIN state straight to the database (as time passing, or an operator, would leave it)."""
    await store.atomic(lambda tx: tx.users.save_pin_state(user))


async def wait_for_sms(stack: Stack, user: User, template: str, timeout_s: float = 10.0) -> str:
    """The one-time PIN the server's worker delivered to the dev inbox."""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as http:
        while True:
            async with http.get(f"{stack.server.url}/dev/sms", params={"phone": user.phone}) as response:
                for message in (await response.json())["messages"]:
                    text: str = message["text"]
                    words = text.split()
                    if "one-time" in text:
                        return next(w.rstrip(".") for w in words if w.rstrip(".").isdigit() and len(w.rstrip(".")) == 4)
            if time.monotonic() > deadline:
                raise AssertionError(f"no {template} SMS reached {user.phone}")
            await asyncio.sleep(0.1)
