"""Everything one hop's actions may use, built fresh for every hop."""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from engine.identity.model import User
from engine.kernel.errors import PinBusy
from engine.platform import Platform
from ussd_server.i18n import Catalogs
from ussd_server.sessions import keys
from ussd_server.sessions.model import Session
from ussd_server.sessions.store import SessionStoreUnavailable
from ussd_server.settings import Settings

_T = TypeVar("_T")
# Session value: the last PIN typed in this session was answered "busy" (its next one may wait longer).
PIN_BUSY = "pin_busy"
# Session value: the salted hash of a PIN being chosen (never the PIN).
PIN_HASH = "pin_hash"
# Values that belong to a PIN being typed or checked: never carried over by a resume.
PIN_VALUES = frozenset({PIN_BUSY, PIN_HASH})
# Session value: which daily cap stopped the journey (engine.kernel.daily_caps.Cap), for the capped screen.
CAPPED = "capped"
# Leave this much of the hop's deadline for saving the session and answering.
_DEADLINE_MARGIN_S = 0.5


class Limiter(Protocol):
    """Per-identity rate limits (ussd_server.rate_limits.RateLimiter): None if allowed, else seconds to wait."""

    async def hit(self, rate: str, *identity: str) -> float | None: ...


class PinRateLimited(Exception):
    """This phone used its PIN checks for the minute; nothing was checked or counted."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(f"PIN checks limited for {wait_s:.0f} s")
        self.seconds = max(1, math.ceil(wait_s))


@dataclass
class Hop:
    session: Session
    platform: Platform
    settings: Settings
    catalogs: Catalogs
    limiter: Limiter
    deadline: float  # event-loop time after which no new step of this hop starts
    pin: str | None = None  # typed on a PIN screen this hop; never stored anywhere
    resume_candidate: Session | None = None  # a dropped session of this phone, as it would be resumed
    shown: dict[str, Any] = field(default_factory=dict)  # values for this hop's screen only
    sms_queued: bool = False  # an action wrote outbox rows: wake the SMS worker
    # What one step of this hop read that a later step of the same hop shows again (a list's pick and
    # the next screen's summary of it): read once per hop. Never stored; the next hop reads afresh.
    seen: dict[str, Any] = field(default_factory=dict)
    _user: User | None = None
    _user_loaded: bool = False

    async def user(self) -> User | None:
        """The registered user behind this phone (looked up at most once per hop)."""
        if not self._user_loaded:
            self._user = await self.platform.users.find(self.session.phone)
            self._user_loaded = True
        return self._user

    def forget_user(self) -> None:
        self._user_loaded = False

    def budget_s(self) -> float:
        """Seconds left for new work in this hop."""
        return self.deadline - _DEADLINE_MARGIN_S - asyncio.get_running_loop().time()

    async def pin_check(self, check: Callable[[bool, float], Awaitable[_T]]) -> _T:
        """Run a slow PIN check within this phone's budget of checks and what is left of the hop.

        ``check(retry, budget_s)`` is told whether the caller's last PIN was
        answered busy, and how long it may wait. Raises :class:`PinRateLimited`
        (nothing checked) when the phone used its PIN checks for the minute.
        """
        rate = f"{self.settings.pin_checks_per_minute}/minute"
        try:
            wait_s = await self.limiter.hit(rate, keys.RATE_PIN_CHECKS, self.session.phone)
        except Exception as exc:  # the limiter shares Redis with the sessions: answer busy like them
            raise SessionStoreUnavailable("rate limiter unavailable") from exc
        if wait_s is not None:
            raise PinRateLimited(wait_s)
        busy = False
        try:
            return await check(bool(self.session.values.get(PIN_BUSY)), max(self.budget_s(), 0.0))
        except PinBusy:
            busy = True
            raise
        finally:
            if busy:
                self.session.values[PIN_BUSY] = 1
            else:
                self.session.values.pop(PIN_BUSY, None)

    def operation_id(self, kind: str) -> str:
        """Stable for one confirmation of one session: a replayed hop can never apply twice.

        The session's nonce is in it: a gateway that reuses a session id after the
        session expired starts a new session, whose operations are new.
        """
        s = self.session
        attempt = s.values.get("attempt", 0)
        digest = hashlib.blake2b(f"{s.id}|{s.nonce}|{kind}|{attempt}".encode(), digest_size=16).hexdigest()
        return f"ussd-{kind}-{digest}"

    def values(self) -> dict[str, Any]:
        return {**self.session.values, **self.shown}

    def text(self, key: str, **params: Any) -> str:
        return self.catalogs.render(self.session.language, key, params)
