"""Everything one hop's actions may use, built fresh for every hop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from engine.errors import PinBusy
from engine.model import User
from engine.platform import Platform
from ussd_server.i18n import Catalogs
from ussd_server.sessions.model import Session
from ussd_server.settings import Settings

_T = TypeVar("_T")
# Session value: the last PIN typed in this session was answered "busy" (its next one may wait longer).
PIN_BUSY = "pin_busy"


@dataclass
class Hop:
    session: Session
    platform: Platform
    settings: Settings
    catalogs: Catalogs
    pin: str | None = None  # typed on a PIN screen this hop; never stored anywhere
    resume_candidate: Session | None = None  # a dropped session of this phone, offered on a new dial
    shown: dict[str, Any] = field(default_factory=dict)  # values for this hop's screen only
    sms_queued: bool = False  # an action wrote outbox rows: wake the SMS worker
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

    async def pin_check(self, check: Callable[[bool], Awaitable[_T]]) -> _T:
        """Run a slow PIN check, told whether the caller's last PIN was answered busy; remember if this one is."""
        busy = False
        try:
            return await check(bool(self.session.values.get(PIN_BUSY)))
        except PinBusy:
            busy = True
            raise
        finally:
            if busy:
                self.session.values[PIN_BUSY] = 1
            else:
                self.session.values.pop(PIN_BUSY, None)

    def values(self) -> dict[str, Any]:
        return {**self.session.values, **self.shown}

    def text(self, key: str, **params: Any) -> str:
        return self.catalogs.render(self.session.language, key, params)
