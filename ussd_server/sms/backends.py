"""Where rendered SMS texts go: the backend protocol and the development backends.

A backend answers every send with a :class:`SendResult` instead of raising:
``sent`` (accepted, with the provider's reference for delivery reports),
``retry`` (try again later) or ``failed`` (never worth retrying). The worker
decides what happens next.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Literal, Protocol

from engine.kernel.clock import Clock, SystemClock
from engine.kernel.phones import mask_phone
from ussd_server.settings import Settings

log = logging.getLogger(__name__)

SendStatus = Literal["sent", "retry", "failed"]


@dataclass(frozen=True, slots=True)
class SendResult:
    status: SendStatus
    provider_ref: str = ""
    error: str = ""


class SmsBackend(Protocol):
    async def send(self, to: str, text: str) -> SendResult:
        """Hand one message for one E.164 recipient to the provider. Never raises for provider trouble."""
        ...

    async def close(self) -> None:
        """Release threads or connections; the backend is not used afterwards."""
        ...


class ConsoleBackend:
    """Development: the message goes to the log (phone masked, text in full)."""

    async def send(self, to: str, text: str) -> SendResult:
        ref = f"console-{uuid.uuid4().hex[:16]}"
        log.info("SMS to %s (%s): %s", mask_phone(to), ref, text)
        return SendResult("sent", provider_ref=ref)

    async def close(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class InboxMessage:
    to: str
    text: str
    at: int  # microseconds since the epoch, from the backend's clock


class InboxBackend:
    """Development and tests: an in-memory inbox per phone, which the simulator reads.

    Bounded, because a long-running dev server must not grow without limit:
    each phone keeps its newest ``per_phone`` messages, and the phone that
    received nothing for longest is forgotten past ``max_phones``.
    """

    def __init__(self, *, per_phone: int = 50, max_phones: int = 10_000, clock: Clock | None = None) -> None:
        self._per_phone = per_phone
        self._max_phones = max_phones
        self._clock = clock or SystemClock()
        self._inboxes: OrderedDict[str, deque[InboxMessage]] = OrderedDict()
        # Count per phone of everything ever received, so wait_for still sees
        # progress after the bounded inbox dropped old messages.
        self._received: dict[str, int] = {}
        self._arrived = asyncio.Condition()

    async def send(self, to: str, text: str) -> SendResult:
        ref = f"inbox-{uuid.uuid4().hex[:16]}"
        async with self._arrived:
            inbox = self._inboxes.pop(to, None) or deque(maxlen=self._per_phone)
            inbox.append(InboxMessage(to, text, self._clock.now_us()))
            self._inboxes[to] = inbox  # most recently used last
            self._received[to] = self._received.get(to, 0) + 1
            while len(self._inboxes) > self._max_phones:
                dropped, _ = self._inboxes.popitem(last=False)
                self._received.pop(dropped, None)
            self._arrived.notify_all()
        log.debug("SMS to %s (%s) kept in the inbox", mask_phone(to), ref)
        return SendResult("sent", provider_ref=ref)

    def messages(self, phone: str) -> list[InboxMessage]:
        """The phone's messages, oldest first."""
        return list(self._inboxes.get(phone, ()))

    # A plain timeout argument reads best in simulator scripts and tests.
    async def wait_for(self, phone: str, count: int = 1, timeout: float = 5.0) -> list[InboxMessage]:  # noqa: ASYNC109
        """Wait until ``phone`` has received ``count`` messages in all; raises ``TimeoutError``."""
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: self._received.get(phone, 0) >= count)
        return self.messages(phone)

    def clear(self) -> None:
        self._inboxes.clear()
        self._received.clear()

    async def close(self) -> None:
        return None


def build_backend(settings: Settings) -> SmsBackend:
    """The backend ``SMS_BACKEND`` names."""
    if settings.sms_backend == "console":
        return ConsoleBackend()
    if settings.sms_backend == "inbox":
        return InboxBackend()
    # Imported here so the console and inbox backends never load the SDK (and requests).
    from ussd_server.sms.africastalking_backend import AfricasTalkingBackend

    if not settings.at_api_key:  # Settings refuses this already; keep mypy and a hand-built Settings honest
        raise ValueError("SMS_BACKEND=africastalking needs AT_API_KEY")
    return AfricasTalkingBackend(
        username=settings.at_username,
        api_key=settings.at_api_key,
        sender_id=settings.at_sender_id,
        timeout_s=settings.sms_timeout_s,
    )
