"""What USSD analytics needs from a database."""

from __future__ import annotations

from typing import Protocol

from engine.analytics.model import ScreenFunnel, UssdSessionEnd


class UssdAnalytics(Protocol):
    async def record_ussd_end(self, event: UssdSessionEnd) -> bool:
        """Keep one notification per session (a repeated one is ignored); True if new."""
        ...

    async def ussd_funnel(self) -> list[ScreenFunnel]:
        """Per last screen: sessions, completed (status Success) and dropped, most dropped first."""
        ...
