"""What the shared kernel needs from a database: the daily counters behind every cap."""

from __future__ import annotations

from typing import Protocol


class CounterReader(Protocol):
    async def daily_count(self, subject: str, kind: str, day: int) -> int:
        """How many ``kind`` events ``subject`` has had on ``day`` (days since the epoch, local time)."""
        ...


class CounterWriter(CounterReader, Protocol):
    async def bump_daily(self, subject: str, kind: str, day: int, limit: int) -> bool:
        """Count one event if fewer than ``limit`` are counted for that day; False (nothing counted) if not."""
        ...

    async def forget_daily_before(self, day: int) -> int:
        """Drop counters of days before ``day``; returns how many rows went."""
        ...
