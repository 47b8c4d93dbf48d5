"""The gateway side of Africa's Talking USSD, exactly as AT speaks it.

``GatewayClient`` posts the form callbacks (``post`` also anything else a
test or a benchmark sends, answered as it came); ``PhoneSession`` is one dial: a
new ``sessionId``, the cumulative ``*``-joined ``text``, and the
end-of-session notification when the session ends (``Success`` on ``END``,
``Incomplete`` when the user cancels, ``Failed`` on a timeout or a reply the
phone cannot show). Time comes from an injected clock so tests and scenarios
move it instead of sleeping.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlencode

import aiohttp
from multidict import CIMultiDict
from yarl import URL

Clock = Callable[[], float]  # seconds, monotonic
EndStatus = Literal["Success", "Incomplete", "Failed"]
# What handsets show when the network or the app fails a USSD request.
PHONE_ERROR_TEXT = "Connection problem or invalid MMI code."
# AT reports a per-session cost; the currency and format here are illustrative.
SESSION_COST = "ZMW 0.0000"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


class SessionClosed(RuntimeError):
    """Input for a session that already ended (by END, cancel or timeout)."""


class ShiftClock:
    """A monotonic clock that tests and scenarios can move forward (``idle: 61``)."""

    def __init__(self, base: Clock = time.monotonic) -> None:
        self._base = base
        self._offset = 0.0

    def __call__(self) -> float:
        return self._base() + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds


@dataclass(frozen=True, slots=True)
class Timeouts:
    """AT guidance: about 60 s to answer a screen, 180 s for a session, 10-15 s for the app to reply."""

    answer_s: float = 60.0
    session_s: float = 180.0
    app_reply_s: float = 15.0


@dataclass(frozen=True, slots=True)
class Endpoints:
    ussd: URL
    events: URL | None
    sms_inbox: URL

    @classmethod
    def from_url(cls, url: str | URL, events_url: str | None = None) -> Endpoints:
        """A base URL (``http://host:8000``) means ``/ussd``, ``/ussd/events``, ``/dev/sms`` and ``/dev/momo`` on it.

        Any other path is taken as the USSD callback itself, with its events at ``<callback>/events``,
        the way many AT apps lay them out.
        """
        u = URL(url)
        origin = u.origin()
        callback = origin / "ussd" if u.path in ("", "/") else u
        events = URL(events_url) if events_url else URL(str(callback).rstrip("/") + "/events")
        return cls(ussd=callback, events=events, sms_inbox=origin / "dev" / "sms")

    @property
    def dev_momo(self) -> URL:
        """Where a dev server says which provider simulator it serves (next to ``/dev/sms``)."""
        return self.sms_inbox.origin() / "dev" / "momo"


@dataclass(frozen=True, slots=True)
class UssdReply:
    """One screen as the handset received it; ``error`` is set when the app broke the protocol."""

    kind: Literal["CON", "END"]
    text: str
    raw: str
    error: str = ""

    @property
    def end(self) -> bool:
        return self.kind == "END"

    @classmethod
    def parse(cls, status: int, body: str) -> UssdReply:
        # Anything but HTTP 200 with "CON "/"END " ends the session on a real phone.
        if status != 200:
            return cls("END", PHONE_ERROR_TEXT, body, error=f"HTTP {status}: {body[:120]!r}")
        if body.startswith("CON "):
            return cls("CON", body[4:], body)
        if body.startswith("END "):
            return cls("END", body[4:], body)
        return cls("END", PHONE_ERROR_TEXT, body, error=f"reply does not start with CON/END: {body[:120]!r}")


@dataclass(frozen=True, slots=True)
class HttpReply:
    """An HTTP answer exactly as it came, before a handset reads it (tests check status and type too)."""

    status: int
    content_type: str
    body: str


class GatewayClient:
    """Posts AT-shaped form callbacks to one server (which may be any AT-compatible app)."""

    def __init__(self, http: aiohttp.ClientSession, endpoints: Endpoints, *, timeouts: Timeouts | None = None) -> None:
        self.http = http
        self.endpoints = endpoints
        self.timeouts = timeouts or Timeouts()

    @classmethod
    def open(cls, url: str | URL, *, events_url: str | None = None, timeouts: Timeouts | None = None) -> GatewayClient:
        return cls(aiohttp.ClientSession(), Endpoints.from_url(url, events_url), timeouts=timeouts)

    async def close(self) -> None:
        await self.http.close()

    async def post(
        self,
        target: str | URL,
        data: Any,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> HttpReply:
        """POST ``data`` to ``target`` (a path such as ``/ussd/events`` is taken on the callback's origin).

        A mapping is sent form-encoded, as AT sends it; anything else (bytes, a str, multipart
        ``FormData``) goes as it is, so tests can send what no gateway would. Raises
        ``aiohttp.ClientError`` or ``TimeoutError`` when no answer comes.
        """
        url = target if isinstance(target, URL) else self.endpoints.ussd.join(URL(target))
        sent_headers: CIMultiDict[str] = CIMultiDict()
        if isinstance(data, Mapping):
            # Encoded here rather than by aiohttp's FormData: the same bytes, less work per hop under load.
            data = urlencode(data)
            sent_headers["Content-Type"] = FORM_CONTENT_TYPE
        sent_headers.update(headers or {})  # the caller's win, whatever their case
        timeout = aiohttp.ClientTimeout(total=self.timeouts.app_reply_s)
        async with self.http.post(url, data=data, headers=sent_headers, params=params, timeout=timeout) as response:
            return HttpReply(response.status, response.content_type, await response.text())

    async def hop(self, form: Mapping[str, str]) -> UssdReply:
        try:
            reply = await self.post(self.endpoints.ussd, form)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return UssdReply("END", PHONE_ERROR_TEXT, "", error=f"no reply: {type(exc).__name__} {exc}".strip())
        return UssdReply.parse(reply.status, reply.body)

    async def notify_end(self, form: Mapping[str, str]) -> int | None:
        """POST the end-of-session notification; the HTTP status, or None if it could not be delivered.

        A notification the app refuses or never receives changes nothing for the user, as with AT.
        """
        if self.endpoints.events is None:
            return None
        try:
            timeout = aiohttp.ClientTimeout(total=self.timeouts.app_reply_s)
            async with self.http.post(self.endpoints.events, data=dict(form), timeout=timeout) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, TimeoutError):
            return None


def new_session_id() -> str:
    """AT-like: ``ATUid_`` and 32 hex digits, new for every dial."""
    return "ATUid_" + secrets.token_hex(16)


class PhoneSession:
    """One dial of one phone, from the first hop to the end-of-session notification."""

    def __init__(
        self,
        client: GatewayClient,
        *,
        phone: str,
        service_code: str,
        network_code: str,
        clock: Clock = time.monotonic,
        timeouts: Timeouts | None = None,
        session_id: str | None = None,
    ) -> None:
        self.client = client
        self.phone = phone
        self.service_code = service_code
        self.network_code = network_code
        self.clock = clock
        self.timeouts = timeouts or client.timeouts
        self.session_id = session_id or new_session_id()
        self.inputs: list[str] = []
        self.hops = 0
        self.started = clock()
        self.last_reply_at = self.started
        self.last_reply: UssdReply | None = None
        self.status: EndStatus | None = None
        self.error = ""
        self.timed_out = False
        self.notified: int | None = None  # HTTP status of the end notification
        self._lock = asyncio.Lock()

    @property
    def text(self) -> str:
        """The cumulative text: ``""`` first, then every input joined by ``*`` (empty ones leave ``**``)."""
        return "*".join(self.inputs)

    @property
    def closed(self) -> bool:
        return self.status is not None

    @property
    def in_flight(self) -> bool:
        """A hop was sent and its reply has not come yet (the phone shows "USSD code running...")."""
        return self._lock.locked()

    def form(self) -> dict[str, str]:
        return {
            "sessionId": self.session_id,
            "serviceCode": self.service_code,
            "phoneNumber": self.phone,
            "networkCode": self.network_code,
            "text": self.text,
        }

    async def start(self, preset: tuple[str, ...] = ()) -> UssdReply:
        """The first hop. ``preset`` holds inputs dialled with the code (``*384*2025*1#``)."""
        if self.hops:
            raise RuntimeError("this session has already started")
        self.inputs = list(preset)
        self.started = self.last_reply_at = self.clock()
        return await self._hop()

    async def reply(self, value: str) -> UssdReply:
        """Type ``value`` and press send."""
        if await self.check_timeout():
            raise SessionClosed("the session timed out")
        if self.closed:
            raise SessionClosed(f"the session already ended ({self.status})")
        self.inputs.append(value)
        return await self._hop()

    async def cancel(self) -> None:
        """The user presses cancel (or hangs up) on an open screen."""
        if not self.closed:
            await self._close("Incomplete")

    def expired(self) -> str:
        """Why the gateway would drop this session now ("" while it is alive)."""
        if self.closed or self.in_flight:  # waiting for the app is the app's timeout, not the user's
            return ""
        now = self.clock()
        if now - self.started >= self.timeouts.session_s:
            return f"session longer than {self.timeouts.session_s:g} s"
        if now - self.last_reply_at >= self.timeouts.answer_s:
            return f"no answer within {self.timeouts.answer_s:g} s"
        return ""

    def seconds_left(self) -> float:
        """Until the gateway drops the session, for a countdown on the handset."""
        now = self.clock()
        return max(
            0.0,
            min(self.timeouts.session_s - (now - self.started), self.timeouts.answer_s - (now - self.last_reply_at)),
        )

    async def check_timeout(self) -> bool:
        """Close the session as ``Failed`` if it idled past a gateway timeout; True if it did."""
        reason = self.expired()
        if reason:
            self.timed_out = True
            await self._close("Failed", f"Session timed out: {reason}")
        return self.timed_out

    async def _hop(self) -> UssdReply:
        async with self._lock:
            self.hops += 1
            reply = await self.client.hop(self.form())
            self.last_reply_at = self.clock()
            self.last_reply = reply
        if reply.error:
            await self._close("Failed", reply.error)
        elif reply.end:
            await self._close("Success")
        return reply

    async def _close(self, status: EndStatus, error: str = "") -> None:
        if self.closed:
            return
        self.status, self.error = status, error
        self.notified = await self.client.notify_end(self.end_notification())

    def end_notification(self) -> dict[str, str]:
        last = self.last_reply
        return {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "sessionId": self.session_id,
            "serviceCode": self.service_code,
            "networkCode": self.network_code,
            "phoneNumber": self.phone,
            "status": self.status or "",
            "cost": SESSION_COST,
            "durationInMillis": str(int((self.clock() - self.started) * 1000)),
            "hopsCount": str(self.hops),
            "input": self.text,
            "lastAppResponse": (last.raw if last else ""),
            "errorMessage": self.error,
        }
