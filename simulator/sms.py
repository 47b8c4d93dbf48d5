"""Where a simulated phone's SMS come from.

In-process, the server's dev ``InboxBackend`` is read directly. Against a
server at ``--url``, its dev endpoint ``GET /dev/sms?phone=`` is polled; a
server without one (another team's app, or production) simply has no inbox.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from yarl import URL


@dataclass(frozen=True, slots=True)
class Sms:
    to: str
    text: str
    at: int  # microseconds since the epoch, as the server stamped it

    @property
    def key(self) -> tuple[int, str]:
        """Identity for "have I seen this one": bounded inboxes drop old messages, so counts would lie."""
        return self.at, self.text


class SmsSource(Protocol):
    available: bool  # False once the server showed it has no dev inbox

    async def fetch(self, phone: str) -> list[Sms]:
        """Every message the phone has, oldest first."""
        ...


class NoSms:
    """A server with no way to read SMS."""

    available = False

    async def fetch(self, phone: str) -> list[Sms]:
        return []


class InboxMessages(Protocol):
    """What the simulator needs of the server's InboxBackend (kept structural: no server import here)."""

    def messages(self, phone: str) -> Sequence[InboxMessageLike]: ...


class InboxMessageLike(Protocol):
    @property
    def to(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def at(self) -> int: ...


class InProcessInbox:
    """The embedded server's InboxBackend, read without HTTP."""

    available = True

    def __init__(self, backend: Callable[[], InboxMessages]) -> None:
        # A getter, because the app creates its backend only when it starts.
        self._backend = backend

    async def fetch(self, phone: str) -> list[Sms]:
        return [Sms(m.to, m.text, m.at) for m in self._backend().messages(phone)]


class HttpInbox:
    """``GET /dev/sms?phone=...`` on a server in dev mode with ``SMS_BACKEND=inbox``."""

    def __init__(self, http: aiohttp.ClientSession, url: URL) -> None:
        self.http = http
        self.url = url
        self.available = True

    async def fetch(self, phone: str) -> list[Sms]:
        if not self.available:
            return []
        try:
            async with self.http.get(self.url, params={"phone": phone}, timeout=aiohttp.ClientTimeout(total=5)) as r:
                if r.status == 404:
                    self.available = False  # no dev inbox here: stop asking
                    return []
                if r.status != 200:
                    return []
                body = await r.json()
            messages = body.get("messages", []) if isinstance(body, dict) else []
            return [
                Sms(str(m.get("to", phone)), str(m.get("text", "")), int(m.get("at", 0)))
                for m in messages
                if isinstance(m, dict)
            ]
        except (aiohttp.ClientError, TimeoutError, ValueError, TypeError):
            return []  # a failed or odd poll is retried at the next tick
