"""Virtual phones over HTTP: buy and send journeys with a PIN, every hop recorded.

Each registered caller is one handset (one session at a time, as on a real
SIM) that dials again and again until the drill stops it. A journey is one of

* ``buy``: buy energy from a cluster (region, cluster, kWh, PIN): 2 transfers, 1 SMS;
* ``gift``: send energy to another caller (Send energy, number, kWh, PIN): 1 transfer, 2 SMS.

(Selling at a price makes an offer the buyer accepts later; it is not a
one-journey receipt, so the load does not use it.)

Every hop is posted through the ``Gateway``/``Phone`` of tests/support/gateway.py
(the same form Africa's Talking sends) and recorded with its latency. Replies are
checked the way a handset cares (``check_reply`` there); a
receipt (``END`` with ``Ref XXXXX-XXXXX``) is kept with what it promised, so a
drill can later look for it in the ledger. Optionally every hop is sent twice,
one after the other or both at once, like a gateway that retries.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp

from engine.identity.model import User
from engine.kernel.units import cost_of_energy
from simulator.protocol import HttpReply, Timeouts, new_session_id
from tests.drills.stack import LANGUAGES, PIN
from tests.support.gateway import REFERENCE, Gateway, Phone, check_reply, option
from ussd_server.i18n import Catalogs

Kind = Literal["buy", "gift"]
# A step on a screen: a str picks the option showing that label; (expected screen start, value) types a value.
Step = str | tuple[str, str]
Retry = Literal["sequential", "concurrent"]
KINDS: tuple[Kind, ...] = ("buy", "gift")
EXPECTED_TRANSFERS: dict[str, int] = {"buy": 2, "gift": 1}
EXPECTED_SMS: dict[str, int] = {"buy": 1, "gift": 2}
# (region, a unique part of the cluster's name, its demo price in ngwee per kWh)
CLUSTERS = (("Copperbelt", "Kitwe", 105), ("Lusaka", "Chelstone", 120))
CLUSTER_NAMES = {"Kitwe": "Kitwe Industrial Solar Park", "Chelstone": "Chelstone Neighbourhood Solar"}
AMOUNTS = (("0.1", 100), ("0.2", 200), ("0.5", 500))  # what is typed, in Wh
HOP_TIMEOUT_S = Timeouts().app_reply_s  # how long the gateway client waits for an answer
RETRY_AFTER_S = 0.05  # after a journey that got no receipt (busy, apology, no answer)
HARD_LIMIT_S = 120.0  # no load runs longer than this, whatever a drill asks


@dataclass(frozen=True, slots=True)
class HopRecord:
    phone: str
    session_id: str
    text: str
    started: float  # event-loop time when the request left
    elapsed: float
    status: int | None  # None: no HTTP answer at all (refused, reset, timed out)
    body: str
    error: str = ""


@dataclass(frozen=True, slots=True)
class Receipt:
    kind: Kind
    phone: str
    counterpart: str | None
    wh: int
    cost: int  # ngwee the buyer paid
    ref: str  # the 10-character reference, without the dash
    body: str


def _pattern(catalogs: Catalogs, key: str) -> re.Pattern[str]:
    """A catalog text in any language as a regex; ``{code}`` matches an error reference."""
    texts = [re.escape(catalogs.text(lang, key)).replace(r"\{code\}", "[0-9A-F]{6}") for lang in LANGUAGES]
    return re.compile("^END (?:" + "|".join(texts) + ")$")


def classify(catalogs: Catalogs, body: str) -> str:
    """How an ``END`` reply ended a journey: receipt, busy, apology (with an error reference) or other."""
    if REFERENCE.search(body):
        return "receipt"
    if _pattern(catalogs, "err.busy").match(body):
        return "busy"
    if _pattern(catalogs, "err.sorry").match(body):
        return "apology"
    return "other END: " + body[:60]


@dataclass
class Load:
    """Concurrent virtual phones against one or more server processes."""

    gateways: Sequence[Gateway]
    callers: Sequence[User]
    catalogs: Catalogs
    kinds: Sequence[Kind] = KINDS
    retry: Retry | None = None
    seed: int = 0
    hops: list[HopRecord] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)
    anomalies: list[str] = field(default_factory=list)  # what a handset or an operator would complain about
    endings: Counter[str] = field(default_factory=Counter)
    journeys: int = 0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _progress: asyncio.Condition = field(default_factory=asyncio.Condition)

    # --- running -------------------------------------------------------------------------

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Load]:
        """Every caller dials in a loop until the block ends (or HARD_LIMIT_S passes); then all are awaited."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HARD_LIMIT_S
        tasks = [asyncio.create_task(self._caller(i, deadline)) for i in range(len(self.callers))]
        try:
            yield self
        finally:
            self._stop.set()
            done, pending = await asyncio.wait(tasks, timeout=HOP_TIMEOUT_S * 2 + 5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for task in done:
                if task.exception() is not None:
                    self.anomalies.append(f"a virtual phone crashed: {task.exception()!r}")

    async def wait_for_receipts(self, count: int, timeout_s: float) -> bool:
        """True once ``count`` receipts in total were answered; False after ``timeout_s``."""
        try:
            async with asyncio.timeout(timeout_s), self._progress:
                await self._progress.wait_for(lambda: len(self.receipts) >= count)
        except TimeoutError:
            return False
        return True

    async def _caller(self, index: int, deadline: float) -> None:
        rng = random.Random(self.seed * 7919 + index)
        me = self.callers[index]
        others = [u for u in self.callers if u.phone != me.phone]
        loop = asyncio.get_running_loop()
        while not self._stop.is_set() and loop.time() < deadline:
            gateway = self.gateways[rng.randrange(len(self.gateways))]
            kind = self.kinds[rng.randrange(len(self.kinds))]
            before = len(self.receipts)
            await self.journey(gateway.phone(me.phone, record=False), me, kind, rng, rng.choice(others))
            if len(self.receipts) == before:
                await asyncio.sleep(RETRY_AFTER_S)  # like a person, wait a moment before dialling again

    # --- one journey ------------------------------------------------------------------

    def t(self, language: str, key: str, **params: Any) -> str:
        return self.catalogs.render(language, key, params)

    async def journey(self, phone: Phone, me: User, kind: Kind, rng: random.Random, other: User) -> None:
        """One dial, as far as the server lets it get: a receipt, or an ending the drill will judge."""
        self.journeys += 1
        lang = str(me.language)
        phone.session_id, phone.inputs = new_session_id(), []
        body = await self.hop(phone, None)
        if body is not None and body.startswith("CON " + self.t(lang, "resume.offer")):
            body = await self.hop(phone, "2")  # 2 No, start again: a session the last fault cut off
        steps, wh, cost = self._plan(kind, lang, rng, other)
        for step in steps:
            if body is None or body.startswith("END "):
                break
            if isinstance(step, str):  # pick the option showing this label
                try:
                    value = option(body, step)
                except AssertionError:
                    self.anomalies.append(f"{kind}: no option {step!r} on {body!r}")
                    return
            else:  # type a value, once the screen shows what it should
                expected, value = step
                if not body.startswith("CON " + expected):
                    self.anomalies.append(f"{kind}: expected {'CON ' + expected!r}, got {body!r}")
                    return
            body = await self.hop(phone, value)
        if body is None:
            self.endings["no answer"] += 1
        elif body.startswith("CON "):
            self.anomalies.append(f"{kind}: a journey stopped on an unexpected screen: {body!r}")
        elif (m := REFERENCE.search(body)) is not None:
            receipt = Receipt(kind, me.phone, None if kind == "buy" else other.phone, wh, cost, m[1] + m[2], body)
            self.endings["receipt"] += 1
            async with self._progress:
                self.receipts.append(receipt)
                self._progress.notify_all()
        else:
            self.endings[classify(self.catalogs, body)] += 1

    def _plan(self, kind: Kind, lang: str, rng: random.Random, other: User) -> tuple[list[Step], int, int]:
        """The steps from the home menu to the receipt, the Wh that will move and the ngwee it costs."""
        typed, wh = AMOUNTS[rng.randrange(len(AMOUNTS))]
        if kind == "buy":
            region, cluster, price = CLUSTERS[rng.randrange(len(CLUSTERS))]
            cost = cost_of_energy(wh, price)
            confirm = self.t(lang, "buy.confirm", wh=wh, cluster_name=CLUSTER_NAMES[cluster], cost=cost)
            return [self.t(lang, "home.buy"), region, cluster, ("", typed), (confirm, PIN)], wh, cost
        confirm = self.t(lang, "send.confirm", wh=wh, counterpart_name=other.short_name, counterpart=other.phone)
        number = "0" + other.phone[4:]  # the number as people write it
        return [self.t(lang, "home.send"), ("", number), ("", typed), (confirm, PIN)], wh, 0

    # --- one hop --------------------------------------------------------------------

    async def hop(self, phone: Phone, value: str | None) -> str | None:
        """Type ``value`` (None: dial) and send; the checked reply, or None if no valid answer came."""
        if value is not None:
            phone.inputs.append(value)
        text = phone.text
        if self.retry is None:
            reply = await self._post(phone, text)
        elif self.retry == "sequential":
            reply = await self._post(phone, text)
            again = await self._post(phone, text)
            self._same(reply, again, phone, text)
        else:
            reply, again = await asyncio.gather(self._post(phone, text), self._post(phone, text))
            self._same(reply, again, phone, text)
        if reply is None:
            return None
        try:
            return check_reply(reply, f"{phone.number} text={text!r}")
        except AssertionError as exc:
            self.anomalies.append(str(exc))
            return None

    def _same(self, first: HttpReply | None, second: HttpReply | None, phone: Phone, text: str) -> None:
        if first is not None and second is not None and first.body != second.body:
            self.anomalies.append(
                f"a retried hop got another reply ({self.retry}): {phone.number} text={text!r}: "
                f"{first.body!r} then {second.body!r}"
            )

    async def _post(self, phone: Phone, text: str) -> HttpReply | None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            reply = await phone.raw(text)
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.hops.append(
                HopRecord(phone.number, phone.session_id, text, started, loop.time() - started, None, "", repr(exc))
            )
            return None
        elapsed = loop.time() - started
        self.hops.append(HopRecord(phone.number, phone.session_id, text, started, elapsed, reply.status, reply.body))
        return reply

    # --- what happened ---------------------------------------------------------------

    def hops_sent_between(self, start: float, end: float) -> list[HopRecord]:
        """Hops sent at or after ``start`` and before ``end`` (event-loop time), however long they took."""
        return [h for h in self.hops if start <= h.started < end]

    def hops_between(self, start: float, end: float) -> list[HopRecord]:
        """Hops sent at or after ``start`` whose answer came by ``end`` (event-loop time)."""
        return [h for h in self.hops_sent_between(start, end) if h.started + h.elapsed <= end]

    def server_errors(self) -> list[HopRecord]:
        return [h for h in self.hops if h.status is not None and h.status >= 500]

    def no_answers(self) -> list[HopRecord]:
        return [h for h in self.hops if h.status is None]

    def cut_at(self, moment: float) -> list[HopRecord]:
        """Hops in flight at ``moment`` (event-loop time) that never got an answer."""
        return [h for h in self.no_answers() if h.started <= moment <= h.started + h.elapsed]

    def summary(self, seconds: float) -> str:
        """One line for the drill table: callers, hops, receipts and how other journeys ended."""
        answered = len(self.hops) - len(self.no_answers())
        others = ", ".join(f"{k} {v}" for k, v in sorted(self.endings.items()) if k != "receipt")
        return (
            f"{len(self.callers)} phones, {self.journeys} journeys, {answered} hops answered in {seconds:.1f} s "
            f"({answered / max(seconds, 1e-9):.0f}/s), {len(self.receipts)} receipts"
            + (f"; other endings: {others}" if others else "")
        )
