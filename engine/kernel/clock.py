"""Time as a port: the engine never reads the wall clock directly.

Tests move a :class:`ManualClock` to exercise timeouts, lockouts and schedules
instead of sleeping.
"""

from __future__ import annotations

import time
from typing import Protocol

MICROS_PER_SECOND = 1_000_000


class Clock(Protocol):
    def now_us(self) -> int:
        """Microseconds since the Unix epoch."""
        ...


class SystemClock:
    def now_us(self) -> int:
        return time.time_ns() // 1_000


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start_us: int = 1_767_225_600 * MICROS_PER_SECOND) -> None:
        self._now = start_us

    def now_us(self) -> int:
        return self._now

    def advance(self, seconds: float = 0, *, us: int = 0) -> None:
        self._now += int(seconds * MICROS_PER_SECOND) + us

    def set(self, now_us: int) -> None:
        self._now = now_us
