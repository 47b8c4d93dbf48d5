"""Local calendar months as integers (``yyyymm``): what monthly tariff bands and allowances count by.

A month follows the local clock (``offset_s`` east of UTC, as in :mod:`engine.kernel.local_time`),
so energy bought at 00:30 on the 1st in Lusaka counts in the new month although it is still the
previous month in UTC. Integer arithmetic on days; no clock is read.
"""

from __future__ import annotations

from datetime import date

from engine.kernel.clock import MICROS_PER_SECOND
from engine.kernel.local_time import SECONDS_PER_DAY, local_day

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def month_key(at_us: int, offset_s: int) -> int:
    """``202511`` for any moment of November 2025, local time."""
    day = date.fromordinal(_EPOCH_ORDINAL + local_day(at_us, offset_s))
    return day.year * 100 + day.month


def month_start_us(month: int, offset_s: int) -> int:
    """The instant (UTC microseconds) local ``month`` (``yyyymm``) began: its 1st, local midnight."""
    year, number = _split(month)
    days = date(year, number, 1).toordinal() - _EPOCH_ORDINAL
    return (days * SECONDS_PER_DAY - offset_s) * MICROS_PER_SECOND


def next_month(month: int) -> int:
    """``202512`` -> ``202601``: with :func:`month_start_us`, where a month ends."""
    year, number = _split(month)
    return (year + 1) * 100 + 1 if number == 12 else year * 100 + number + 1


def month_iso(month: int) -> str:
    """``202511`` -> ``2025-11-01``: the month's first day, as effective dates are written."""
    year, number = _split(month)
    return date(year, number, 1).isoformat()


def _split(month: int) -> tuple[int, int]:
    year, number = divmod(month, 100)
    if not (1 <= number <= 12 and 1 <= year <= 9998):
        raise ValueError(f"not a yyyymm month: {month}")
    return year, number
