"""Per-user daily caps: gifts, sale offers and lookups of another number.

Counted in the database, in the same transaction as what they count (so an
operation that is refused or rolled back uses nothing, and every process and
backend agrees), per local day (:mod:`engine.local_time`).
"""

from __future__ import annotations

import enum

from engine.kernel.errors import DailyLimitReached
from engine.kernel.local_time import local_day, next_local_midnight_us
from engine.kernel.ports import CounterReader, CounterWriter

# Counters older than this are dropped by the periodic sweep.
KEEP_DAYS = 7


class Cap(enum.StrEnum):
    GIFTS = "gifts"
    OFFERS = "offers"
    LOOKUPS = "lookups"
    STARTING_CREDITS = "starting_credits"  # platform-wide: new users given the starting credit


PLATFORM = "platform"  # the subject of platform-wide counters


def subject_of(user_id: int) -> str:
    return f"user:{user_id}"


async def use(counters: CounterWriter, user_id: int, cap: Cap, limit: int, *, now_us: int, offset_s: int) -> None:
    """Count one ``cap`` event for today, or raise :class:`DailyLimitReached` (until local midnight)."""
    counted = await counters.bump_daily(subject_of(user_id), str(cap), local_day(now_us, offset_s), limit)
    if not counted:
        raise DailyLimitReached(
            f"daily {cap} limit reached", kind=str(cap), limit=limit, until_us=next_local_midnight_us(now_us, offset_s)
        )


async def forget_old(counters: CounterWriter, *, now_us: int, offset_s: int) -> int:
    """Drop counters older than KEEP_DAYS (nothing reads them); returns how many rows went."""
    return await counters.forget_daily_before(local_day(now_us, offset_s) - KEEP_DAYS)


async def left_today(counters: CounterReader, user_id: int, cap: Cap, limit: int, *, now_us: int, offset_s: int) -> int:
    """How many ``cap`` events remain today (to say so before anything is typed)."""
    used = await counters.daily_count(subject_of(user_id), str(cap), local_day(now_us, offset_s))
    return max(limit - used, 0)
