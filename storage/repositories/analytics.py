"""USSD analytics, written once for SQLite and PostgreSQL (engine.analytics.ports)."""

from __future__ import annotations

from engine.analytics.model import ScreenFunnel, UssdSessionEnd
from engine.kernel.clock import Clock
from storage.dialect import Executor, sql

_RECORD = sql(
    "INSERT INTO ussd_events (session_id, status, last_screen, hops, duration_ms, error, received_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (session_id) DO NOTHING"
)
_FUNNEL = sql(
    "SELECT last_screen, COUNT(*), COUNT(*) FILTER (WHERE status = 'Success'), "
    "COUNT(*) FILTER (WHERE status <> 'Success') FROM ussd_events "
    "GROUP BY last_screen ORDER BY 4 DESC, 2 DESC, 1"
)


class AnalyticsRepository:
    """engine.analytics.ports.UssdAnalytics: ``writes`` commits each statement, ``reads`` reads committed rows."""

    def __init__(self, *, writes: Executor, reads: Executor, clock: Clock) -> None:
        self._writes = writes
        self._reads = reads
        self._clock = clock

    async def record_ussd_end(self, event: UssdSessionEnd) -> bool:
        e = event
        received = self._clock.now_us()
        return (
            await self._writes.execute(
                _RECORD, e.session_id, e.status, e.last_screen, e.hops, e.duration_ms, e.error, received
            )
            == 1
        )

    async def ussd_funnel(self) -> list[ScreenFunnel]:
        return [ScreenFunnel(r[0], int(r[1]), int(r[2]), int(r[3])) for r in await self._reads.fetch(_FUNNEL)]
