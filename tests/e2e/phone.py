"""A feature phone talking to the app the way Africa's Talking relays it.

``Phone`` dials with a fresh ``sessionId`` and keeps the cumulative ``text``
exactly as AT builds it: ``""`` on the first hop, then every input so far
joined by ``*``. Every reply is checked the way a handset would care about it
(HTTP 200, ``text/plain``, ``CON ``/``END ``, at most 160 characters) and
recorded with the name of the screen it showed, so the suite can report the
longest rendered length per screen.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from ussd_server.appkeys import SESSIONS
from ussd_server.gsm7 import gsm7_length
from ussd_server.phones import parse_zambian_mobile

Client = TestClient[web.Request, web.Application]

SERVICE_CODE = "*384*2025#"
NETWORK_CODE = "64501"  # Airtel Zambia (MCC 645)
SCREEN_LIMIT = 160
_OPTION = re.compile(r"^(\d+) (.+)$")
REFERENCE = re.compile(r"\b([2-9A-HJKMNP-TW-Z]{5})-([2-9A-HJKMNP-TW-Z]{5})\b")

# Unique, valid Zambian mobile numbers for this process: a random start makes
# two concurrent test runs sharing one Redis very unlikely to meet on a number.
_DEMO_PHONES = {"+260977123456", "+260966234567", "+260955345678", "+260761456789"}
_PREFIXES = ("97", "96", "95", "77", "76")
_numbers = itertools.count(random.randrange(1_000_000, 8_000_000))


def unique_phone() -> str:
    while True:
        n = next(_numbers)
        phone = f"+260{_PREFIXES[n % len(_PREFIXES)]}{n:07d}"
        if phone not in _DEMO_PHONES:
            return phone


def new_session_id() -> str:
    return f"ATUid_{uuid.uuid4().hex}"


def option(reply: str, label: str) -> str:
    """The number in front of the line that shows ``label`` (fails with the screen if absent)."""
    for line in reply.splitlines():
        m = _OPTION.match(line.removeprefix("CON ").removeprefix("END "))
        if m and label in m.group(2):
            return m.group(1)
    raise AssertionError(f"no option {label!r} on the screen:\n{reply}")


def reference_in(reply: str) -> str:
    """The ``XXXXX-XXXXX`` reference a receipt shows, without the dash."""
    m = REFERENCE.search(reply)
    assert m, f"no reference on the receipt:\n{reply}"
    return m.group(1) + m.group(2)


@dataclass
class ScreenStat:
    chars: int = 0
    septets: int = 0
    hops: int = 0
    by_language: dict[str, int] = field(default_factory=dict)
    longest: str = ""


class ScreenLog:
    """Longest reply seen per screen (and per language) over a whole test session."""

    def __init__(self) -> None:
        self.screens: dict[str, ScreenStat] = {}

    def record(self, screen: str, language: str, body: str) -> None:
        stat = self.screens.setdefault(screen, ScreenStat())
        stat.hops += 1
        chars, septets = len(body), gsm7_length(body)
        if chars > stat.chars:
            stat.chars, stat.longest = chars, body
        stat.septets = max(stat.septets, septets)
        stat.by_language[language] = max(stat.by_language.get(language, 0), chars)

    def as_json(self) -> dict[str, Any]:
        return {
            name: {
                "max_chars": s.chars,
                "max_septets": s.septets,
                "by_language": dict(sorted(s.by_language.items())),
                "hops": s.hops,
                "longest": s.longest,
            }
            for name, s in sorted(self.screens.items())
        }

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.as_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    def summary(self) -> list[str]:
        langs = ("en", "ny", "bem")
        lines = [f"{'screen':<24} {'max':>4} {'sept':>4} " + " ".join(f"{x:>4}" for x in langs) + "  hops"]
        for name, s in sorted(self.screens.items(), key=lambda kv: (-kv[1].chars, kv[0])):
            per = " ".join(f"{s.by_language.get(x, 0) or '-':>4}" for x in langs)
            lines.append(f"{name:<24} {s.chars:>4} {s.septets:>4} {per}  {s.hops}")
        return lines


@dataclass
class Reply:
    status: int
    content_type: str
    body: str


class Gateway:
    """The Africa's Talking side of one app: posts callbacks and remembers what it touched."""

    def __init__(
        self,
        client: Client,
        log: ScreenLog | None = None,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.client = client
        self.log = log
        self.params = dict(params or {})
        self.headers = dict(headers or {})
        self.session_ids: set[str] = set()
        self.phones: set[str] = set()

    def phone(self, number: str | None = None, **kwargs: Any) -> Phone:
        return Phone(self, number or unique_phone(), **kwargs)

    async def post(self, path: str, data: Any, **kwargs: Any) -> Reply:
        if path == "/ussd" and isinstance(data, Mapping):
            if "sessionId" in data:
                self.session_ids.add(str(data["sessionId"]))
            if "phoneNumber" in data:
                self.phones.add(str(data["phoneNumber"]))
        kwargs.setdefault("params", self.params)
        if self.headers:
            kwargs["headers"] = {**self.headers, **kwargs.get("headers", {})}
        async with self.client.post(path, data=data, **kwargs) as response:
            return Reply(response.status, response.content_type, await response.text())

    async def screen_of(self, session_id: str) -> tuple[str, str]:
        """The screen a session is on and its language, as the session store has it."""
        try:
            session = await self.client.app[SESSIONS].load(session_id)
        except Exception as exc:  # the store may be down on purpose (outage tests)
            return f"({type(exc).__name__})", "?"
        if session is None:
            return "(no session)", "?"
        return session.state, session.language

    async def forget(self) -> None:
        """Delete the session and resume keys this gateway's requests created (only those; locks expire)."""
        store = self.client.app[SESSIONS]
        for session_id in self.session_ids:
            await store.delete(session_id)
        for phone in self.phones:
            try:
                await store.drop_resume(parse_zambian_mobile(phone))
            except Exception:  # not a Zambian number: no resume key was ever written for it
                continue


class Phone:
    """One handset: dial, type, read the screen."""

    def __init__(
        self,
        gateway: Gateway,
        number: str,
        *,
        service_code: str = SERVICE_CODE,
        network_code: str = NETWORK_CODE,
        record: bool = True,
    ) -> None:
        self.gateway = gateway
        self.number = number
        self.service_code = service_code
        self.network_code = network_code
        self.record = record
        self.session_id = ""
        self.inputs: list[str] = []
        self.replies: list[str] = []  # every reply of the current dial, in order
        self.screens: list[str] = []  # the screen each of those replies showed

    @property
    def text(self) -> str:
        return "*".join(self.inputs)

    @property
    def last(self) -> str:
        return self.replies[-1]

    @property
    def ended(self) -> bool:
        return bool(self.replies) and self.last.startswith("END ")

    def form(self, text: str | None = None, session_id: str | None = None) -> dict[str, str]:
        return {
            "sessionId": session_id or self.session_id,
            "serviceCode": self.service_code,
            "phoneNumber": self.number,
            "networkCode": self.network_code,
            "text": self.text if text is None else text,
        }

    async def dial(self, session_id: str | None = None) -> str:
        """A new session (fresh ``sessionId`` unless given): the first hop, ``text`` empty."""
        self.session_id = session_id or new_session_id()
        self.inputs = []
        self.replies = []
        self.screens = []
        return await self._hop()

    async def send(self, *inputs: str) -> str:
        """Type each input and press send, one hop each; the last reply is returned."""
        assert self.session_id, "dial first"
        for value in inputs:
            assert not self.ended, f"the session already ended with {self.last!r}; cannot send {value!r}"
            self.inputs.append(value)
            await self._hop()
        return self.last

    async def resend(self) -> str:
        """The gateway retries the last hop: the same sessionId and the same text."""
        return await self._hop(count=False)

    async def post_text(self, text: str) -> str:
        """Post an arbitrary cumulative text on this session (a late retry), checked and recorded."""
        return await self._hop(text=text, count=False)

    async def raw(self, text: str | None = None) -> Reply:
        """One hop on this session, unchecked (for concurrency tests that check afterwards)."""
        return await self.gateway.post("/ussd", self.form(text))

    async def _hop(self, *, text: str | None = None, count: bool = True) -> str:
        reply = await self.raw(text)
        body = check_reply(reply, f"{self.number} text={self.text if text is None else text!r}")
        screen, language = await self.gateway.screen_of(self.session_id)
        if self.record and self.gateway.log is not None:
            self.gateway.log.record(screen, language, body)
        if count:
            self.replies.append(body)
            self.screens.append(screen)
        return body


def check_reply(reply: Reply, what: str = "") -> str:
    """What a handset needs from any USSD answer; returns the body."""
    assert reply.status == 200, f"{what}: HTTP {reply.status}: {reply.body[:300]!r}"
    assert reply.content_type == "text/plain", f"{what}: content type {reply.content_type!r}"
    body = reply.body
    assert body.startswith(("CON ", "END ")), f"{what}: reply does not start with 'CON '/'END ': {body[:200]!r}"
    assert len(body) <= SCREEN_LIMIT, f"{what}: reply is {len(body)} characters (> {SCREEN_LIMIT}): {body!r}"
    assert gsm7_length(body) <= SCREEN_LIMIT, f"{what}: reply is {gsm7_length(body)} GSM-7 septets: {body!r}"
    return body
