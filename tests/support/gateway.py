"""Africa's Talking's side of the USSD protocol for tests: gateways and the phones that dial through them.

Everything goes over HTTP through the simulator's ``GatewayClient``, the one
client of the protocol, whether the app runs in the test's process or as a
server process. ``Phone`` dials with a fresh ``sessionId`` and keeps the
cumulative ``text`` exactly as AT builds it: ``""`` on the first hop, then
every input so far joined by ``*``. Every reply is checked the way a handset
would care about it (HTTP 200, ``text/plain``, ``CON ``/``END ``, at most 160
characters) and can be recorded with the name of the screen it showed.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, Protocol

import aiohttp

from simulator.protocol import Endpoints, GatewayClient, HttpReply, new_session_id
from tests.support.phones import unique_phone
from ussd_server.gsm7 import gsm7_length

SERVICE_CODE = "*384*2025#"
NETWORK_CODE = "64501"  # Airtel Zambia (MCC 645)
SCREEN_LIMIT = 160
REFERENCE = re.compile(r"\b([2-9A-HJKMNP-TW-Z]{5})-([2-9A-HJKMNP-TW-Z]{5})\b")
_OPTION = re.compile(r"^(\d+) (.+)$")


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


def check_reply(reply: HttpReply, what: str = "") -> str:
    """What a handset needs from any USSD answer; returns the body."""
    assert reply.status == 200, f"{what}: HTTP {reply.status}: {reply.body[:300]!r}"
    assert reply.content_type == "text/plain", f"{what}: content type {reply.content_type!r}"
    body = reply.body
    assert body.startswith(("CON ", "END ")), f"{what}: reply does not start with 'CON '/'END ': {body[:200]!r}"
    assert len(body) <= SCREEN_LIMIT, f"{what}: reply is {len(body)} characters (> {SCREEN_LIMIT}): {body!r}"
    assert gsm7_length(body) <= SCREEN_LIMIT, f"{what}: reply is {gsm7_length(body)} GSM-7 septets: {body!r}"
    return body


class ScreenRecorder(Protocol):
    """Keeps what each screen rendered (the e2e suite reports the longest reply per screen)."""

    def record(self, screen: str, language: str, body: str) -> None: ...


class Gateway:
    """The AT side of one app: posts callbacks and remembers which sessions and phones it touched.

    The app's screens are its own business: ``screen_of`` says ``-`` unless a
    subclass can read the app's session store (an app in the test's process).
    """

    def __init__(
        self,
        client: GatewayClient,
        log: ScreenRecorder | None = None,
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

    def phone(
        self,
        number: str | None = None,
        *,
        service_code: str = SERVICE_CODE,
        network_code: str = NETWORK_CODE,
        record: bool = True,
    ) -> Phone:
        return Phone(
            self, number or unique_phone(), service_code=service_code, network_code=network_code, record=record
        )

    async def post(
        self,
        path: str,
        data: Any,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> HttpReply:
        """POST to ``path`` on the app, answered as it came; every USSD callback's session and phone are noted.

        ``headers`` add to the gateway's own; ``params`` (the query string) replace its own.
        """
        if path == "/ussd" and isinstance(data, Mapping):
            if "sessionId" in data:
                self.session_ids.add(str(data["sessionId"]))
            if "phoneNumber" in data:
                self.phones.add(str(data["phoneNumber"]))
        query = self.params if params is None else params
        return await self.client.post(path, data, headers={**self.headers, **(headers or {})}, params=query)

    async def screen_of(self, session_id: str) -> tuple[str, str]:
        """The screen a session is on and its language, where the app lets us see it."""
        return "-", "?"

    async def forget(self) -> None:
        """Delete what this gateway's requests left in the app's session store, where it can."""


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

    async def raw(self, text: str | None = None) -> HttpReply:
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


@asynccontextmanager
async def http_gateways(urls: Sequence[str]) -> AsyncIterator[list[Gateway]]:
    """One gateway per server process (``http://host:port``), each with its own HTTP client; closed on exit."""
    async with AsyncExitStack() as stack:
        gateways = []
        for url in urls:
            http = await stack.enter_async_context(aiohttp.ClientSession())
            gateways.append(Gateway(GatewayClient(http, Endpoints.from_url(url))))
        yield gateways
