"""Platform-wide figures for operators and dashboards."""

from __future__ import annotations

from engine.analytics.model import ScreenFunnel
from ussd_server.api.models.common import View
from ussd_server.api.models.energy import Carbon


class UserCounts(View):
    total: int
    by_language: dict[str, int]


class Stats(View):
    users: UserCounts
    clusters: int
    energy_available_wh: int
    carbon: Carbon


class FunnelScreen(View):
    screen: str
    sessions: int
    completed: int
    dropped: int

    @classmethod
    def of(cls, row: ScreenFunnel) -> FunnelScreen:
        return cls(screen=row.screen, sessions=row.sessions, completed=row.completed, dropped=row.dropped)
