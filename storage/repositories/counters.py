"""The shared kernel's daily counters, written once for SQLite and PostgreSQL (engine.kernel.ports)."""

from __future__ import annotations

from storage.dialect import Executor, sql

_COUNT = sql("SELECT count FROM daily_counters WHERE subject = $1 AND kind = $2 AND day = $3")
# The conditional upsert counts only under the limit; RETURNING says whether it did.
_BUMP = sql(
    "INSERT INTO daily_counters (subject, kind, day, count) VALUES ($1, $2, $3, 1) "
    "ON CONFLICT (subject, kind, day) DO UPDATE SET count = daily_counters.count + 1 "
    "WHERE daily_counters.count < $4 RETURNING count"
)
_FORGET = sql("DELETE FROM daily_counters WHERE day < $1")


class CounterReads:
    """engine.kernel.ports.CounterReader over one executor."""

    def __init__(self, db: Executor) -> None:
        self._db = db

    async def daily_count(self, subject: str, kind: str, day: int) -> int:
        row = await self._db.fetch_one(_COUNT, subject, kind, day)
        return int(row[0]) if row is not None else 0


class CounterRepository(CounterReads):
    """engine.kernel.ports.CounterWriter inside one open transaction."""

    async def bump_daily(self, subject: str, kind: str, day: int, limit: int) -> bool:
        row = await self._db.fetch_one(_BUMP, subject, kind, day, limit)
        return row is not None and row[0] <= limit

    async def forget_daily_before(self, day: int) -> int:
        return await self._db.execute(_FORGET, day)
