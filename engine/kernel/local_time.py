"""Days and clock times as people in Zambia read them (a fixed UTC offset: CAT has no daylight saving).

Daily caps reset at local midnight, and a lock or hold is shown as the local
time it lifts, so both follow ``EngineConfig.local_utc_offset_s``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.kernel.clock import MICROS_PER_SECOND

SECONDS_PER_DAY = 86_400


def local_day(now_us: int, offset_s: int) -> int:
    """Days since 1970-01-01 in local time: the key of everything counted per day."""
    return (now_us // MICROS_PER_SECOND + offset_s) // SECONDS_PER_DAY


def local_day_start_us(now_us: int, offset_s: int) -> int:
    """The instant (UTC microseconds) the local day holding ``now_us`` began."""
    return (local_day(now_us, offset_s) * SECONDS_PER_DAY - offset_s) * MICROS_PER_SECOND


def next_local_midnight_us(now_us: int, offset_s: int) -> int:
    """When the local day after ``now_us`` begins."""
    return local_day_start_us(now_us, offset_s) + SECONDS_PER_DAY * MICROS_PER_SECOND


def local_text(at_us: int, offset_s: int, form: str = "%d/%m %H:%M") -> str:
    """``02/12 14:35``: a moment as a short local date and time (digits read the same in every language)."""
    moment = datetime.fromtimestamp(at_us / MICROS_PER_SECOND, UTC) + timedelta(seconds=offset_s)
    return moment.strftime(form)
