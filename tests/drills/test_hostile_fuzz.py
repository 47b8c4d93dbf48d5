"""Drill: thousands of hostile callbacks against the real server process, while a victim is mid-purchase.

Hypothesis builds batches of ``POST /ussd`` requests, each batch sent at once
over HTTP: oversized fields, unicode and control characters, ``*`` storms,
SQL-looking text, unknown session ids and ids that belong to other callers
(the victim's among them), numbers from other countries, missing and extra
fields, multipart bodies and bytes that are not UTF-8. Whatever arrives: no
5xx, every 200 is a valid ``CON``/``END`` screen of at most 160 characters
that never falls into the internal-error apology, the server stays up, the
victim's session carries on untouched to its receipt, and the ledger verifies.
"""

from __future__ import annotations

import asyncio
import string
from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from engine.identity.model import User
from engine.kernel.units import cost_of_energy
from simulator.protocol import HttpReply, new_session_id
from tests.drills.audit import audit_ledger, cli_verify
from tests.drills.conftest import Report
from tests.drills.load import CLUSTER_NAMES, Receipt, classify
from tests.drills.stack import PIN, Stack, open_stack
from tests.support.gateway import SERVICE_CODE, Gateway, Phone, check_reply, http_gateways, option, reference_in
from tests.support.phones import unique_phone

pytestmark = pytest.mark.drill
EXAMPLES = 150
BATCH = 30  # the most requests of one example, all sent at once
BATCH_TIMEOUT_S = 60.0
WH, COST = 500, cost_of_energy(500, 120)  # the victim buys 0.5 kWh at Chelstone's K1.20/kWh
VICTIM_CLUSTER = CLUSTER_NAMES["Chelstone"]
MAX_FIELD = 2000  # ussd_server/gateway.py: a longer field is a 400
FIELDS = ["sessionId", "serviceCode", "phoneNumber", "networkCode", "text"]
FOREIGN = ["+254712345678", "+27821234567", "+12025550123", "+447911123456", "+8613800138000", "+260211123456"]
SQLISH = [
    "'; DROP TABLE users; --",
    "1 OR 1=1",
    "1*2*'); DELETE FROM transfers;--",
    "$1",
    "%s%s%n{0}{name}",
    "\\x00",
    "1; SELECT pg_sleep(5)",
]
# Inputs that walk into the menus (home: 1 balance, 2 buy, 3 sell/send, 4 account, 5 offers).
DEEP = ["1", "2", "3", "4", "5", "1*1", "2*1*1*0.5", "2*1*1*0.5*" + PIN, "3*0977000000*1*2", "4*3*" + PIN]
NASTY = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
CONTROL = st.text(alphabet=[chr(c) for c in (*range(0, 32), 127)] + ["*", "1"], max_size=20)
STORMS = st.one_of(
    st.integers(1, MAX_FIELD + 50).map(lambda n: "*" * n),
    st.integers(1, MAX_FIELD // 2 + 25).map(lambda n: "1*" * n),
    st.integers(1, 100).map(lambda n: "*#" * n),
)
TEXTS = st.one_of(
    st.just(""),
    st.sampled_from(DEEP),
    st.sampled_from(DEEP),
    st.sampled_from(SQLISH),
    NASTY,
    CONTROL,
    STORMS,
    st.lists(st.sampled_from(["1", "2", "0", "00", "98", "", "0.5", PIN, "9999", "¡"]), max_size=12).map("*".join),
    st.text(alphabet="9*", min_size=MAX_FIELD - 5, max_size=MAX_FIELD + 5),
)
# (form fields or raw body bytes, fields to leave out, extra fields, how to encode it)
Request = tuple[Any, set[str], dict[str, str], str]


def mostly(usual: st.SearchStrategy[Any], unusual: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``usual`` eight times in ten: most requests get far enough into the menus to matter."""
    return st.integers(0, 9).flatmap(lambda k: usual if k < 8 else unusual)


def hostile_requests(session_ids: list[str], phones: list[str]) -> st.SearchStrategy[Request]:
    """Callbacks carrying hostile values, some of them malformed, some raw bytes."""
    form = st.fixed_dictionaries(
        {
            "sessionId": mostly(
                st.one_of(st.sampled_from(session_ids), st.builds(new_session_id)),  # reused (the victim's too), new
                st.one_of(st.text(min_size=1, max_size=30), st.integers(190, 260).map(lambda n: "S" * n)),
            ),
            "serviceCode": mostly(st.just(SERVICE_CODE), st.one_of(st.sampled_from(["*384*2025", "*999#", ""]), NASTY)),
            "phoneNumber": mostly(st.sampled_from(phones), st.one_of(st.sampled_from(FOREIGN), NASTY, CONTROL)),
            "networkCode": mostly(st.just("64501"), NASTY),
            "text": TEXTS,
        }
    )
    drop = mostly(st.just(set()), st.sets(st.sampled_from(FIELDS), min_size=1, max_size=2))
    extra = st.dictionaries(st.text(string.ascii_letters + "[]_", min_size=1, max_size=8), NASTY, max_size=3)
    return mostly(
        st.tuples(form, drop, extra, st.sampled_from(["form", "form", "form", "multipart"])),
        st.tuples(st.binary(max_size=300), st.just(set()), st.just({}), st.just("bytes")),
    )


class Fuzzer:
    """Posts hostile requests through one gateway and judges every answer."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.sent: list[tuple[Any, HttpReply | str]] = []  # the request, and its reply or why none came

    async def send_all(self, batch: list[Request]) -> None:
        async with asyncio.timeout(BATCH_TIMEOUT_S):
            await asyncio.gather(*(self.post(*request) for request in batch))

    async def post(self, what: Any, leave_out: set[str], extra: dict[str, str], how: str) -> None:
        try:
            if how == "bytes":
                headers = {"Content-Type": "application/x-www-form-urlencoded"}
                reply = await self.gateway.post("/ussd", what, headers=headers)
            else:
                fields = {k: v for k, v in {**extra, **what}.items() if k not in leave_out}
                data: Any = aiohttp.FormData(fields, default_to_multipart=True) if how == "multipart" else fields
                reply = await self.gateway.post("/ussd", data)
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.sent.append((what, f"no answer: {exc!r}"))
            return
        self.sent.append((what, reply))

    def answers(self) -> Counter[str]:
        return Counter(
            "none" if isinstance(r, str) else f"{r.status} {r.body[:3]}" if r.status == 200 else str(r.status)
            for _, r in self.sent
        )

    def violations(self, stack: Stack) -> list[str]:
        found = []
        for what, reply in self.sent:
            if isinstance(reply, str):
                found.append(f"{reply} for {what!r:.300}")
            elif reply.status >= 500:
                found.append(f"HTTP {reply.status} for {what!r:.300}: {reply.body[:200]!r}")
            elif reply.status == 200:
                try:
                    body = check_reply(reply, f"{what!r:.300}")
                except AssertionError as exc:
                    found.append(str(exc))
                    continue
                if body.startswith("END ") and classify(stack.catalogs, body) == "apology":
                    found.append(f"the internal-error apology for {what!r:.300}: {body!r}")
        return found


def on_this_loop() -> Callable[[Coroutine[Any, Any, None]], None]:
    """Hypothesis drives sync functions: run each example's coroutine on the test's loop from its thread."""
    loop = asyncio.get_running_loop()

    def run(coro: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=BATCH_TIMEOUT_S + 10)

    return run


async def victim_on_pin_screen(stack: Stack, gateway: Gateway, victim: User) -> tuple[Phone, str]:
    """The victim, mid-purchase: 0.5 kWh from Chelstone, asked for the PIN."""
    lang = str(victim.language)
    phone = gateway.phone(victim.phone, record=False)
    await phone.dial()
    await phone.send(option(phone.last, stack.catalogs.render(lang, "home.buy", {})))
    await phone.send(option(phone.last, "Lusaka"))
    await phone.send(option(phone.last, "Chelstone"))
    screen = await phone.send("0.5")
    confirm = stack.catalogs.render(lang, "buy.confirm", {"wh": WH, "cluster_name": VICTIM_CLUSTER, "cost": COST})
    assert screen.startswith("CON " + confirm), screen
    return phone, screen


async def test_hostile_callbacks_never_break_the_server_or_the_victim(
    database_url: str, tmp_path: Path, report: Report
) -> None:
    async with open_stack(database_url, tmp_path, callers=4) as stack, http_gateways([stack.server.url]) as gws:
        [gateway] = gws
        victim_user, *others = stack.callers
        victim, pin_screen = await victim_on_pin_screen(stack, gateway, victim_user)
        session_ids = [victim.session_id, *(new_session_id() for _ in range(6))]
        phones = [u.phone for u in others] + [unique_phone() for _ in range(3)]  # never the victim's number
        fuzzer = Fuzzer(gateway)
        run = on_this_loop()

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: the drill stays bounded in time
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(batch=st.lists(hostile_requests(session_ids, phones), min_size=BATCH // 2, max_size=BATCH))
        def one_batch(batch: list[Request]) -> None:
            run(fuzzer.send_all(batch))

        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.to_thread(one_batch)
        seconds = loop.time() - started

        alive = stack.server.running
        again = await victim.resend()  # the gateway repeats the victim's last hop: the same screen
        receipt_body = await victim.send(PIN)
        receipt = Receipt("buy", victim_user.phone, None, WH, COST, reference_in(receipt_body), receipt_body)
        audit = await audit_ledger(stack, [receipt])
        code, output = await cli_verify(stack)
        store = await stack.open_store()
        try:
            victim_now = await store.users.user_by_phone(victim_user.phone)
        finally:
            await store.close()

    violations = fuzzer.violations(stack)
    ok = alive and not violations and again == pin_screen and not audit.problems and code == 0
    report(
        load=f"{len(fuzzer.sent)} hostile requests in {EXAMPLES} batches of {BATCH // 2}-{BATCH} sent at once, "
        f"{seconds:.1f} s (answers {dict(sorted(fuzzer.answers().items()))}); a victim waiting on its PIN screen",
        faults="oversized fields, unicode, control characters, * storms, SQL-looking text, unknown/reused/others' "
        "session ids, foreign numbers, missing/extra fields, multipart, non-UTF-8 bytes",
        result=f"{len(violations)} bad answers; server up: {alive}; victim's session untouched: {again == pin_screen}"
        f", its purchase applied once: {not audit.problems}; " + ("ok" if ok else f"PROBLEMS: {violations[:2]}"),
    )
    assert alive, f"the server process died under hostile input:\n{stack.logs()}"
    assert not violations, f"{len(violations)} bad answers, first: {violations[:5]}"
    assert again == pin_screen, f"the victim's session changed under fuzzing: {pin_screen!r} became {again!r}"
    assert victim_now is not None
    assert victim_now.pin_failures == 0, f"someone else's guess counted against the victim's PIN: {victim_now}"
    assert not audit.problems, audit.problems[:10]
    assert code == 0, f"enerlectra ledger verify failed after fuzzing:\n{output}"
