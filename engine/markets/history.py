"""A cluster's price history read back: candles, volatility, trend, and the one piece of advice.

Everything here works on :class:`~engine.markets.model.SlotPrice` rows, oldest first, and on
integers: prices in ngwee per kWh, times in UTC microseconds. Only volatility uses floats, and
only inside its statistics (a log return is not money); what it returns is an integer.

History may have gaps (slots in which no row was written). Candles aggregate the rows a bucket
has and make none for an empty bucket; volatility takes consecutive rows (or candles) as given,
so a return across a gap spans more than one slot. Nothing here reads a clock or a database.

The advice rule (the only one, as published to users):

    With at least ``min_slots`` closes in the window (a week by default), compare the price with
    the median close. ``threshold`` (15% by default) or more below it: "buy" (a good time to
    buy). ``threshold`` or more above it: "sell" (a good time to sell). Otherwise no advice.

It compares integers (``price x 10,000`` against ``median x (10,000 -/+ threshold)``), so
"15% or more below" holds at exactly 15% and not at 14.9%.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from engine.kernel.clock import MICROS_PER_SECOND
from engine.markets.config import MarketConfig
from engine.markets.model import SlotPrice

BPS = 10_000
FLAT_BPS = 100  # a move within +-1% is shown as flat: smaller ones are noise on a phone screen
_HOUR_US = 3600 * MICROS_PER_SECOND
_DAY_US = 24 * _HOUR_US
# Volatility windows in hourly candles: hourly, so "a day" means the same whatever the slot length.
DAY_HOURS = 24
WEEK_HOURS = 7 * 24

UP = "up"
DOWN = "down"
FLAT = "flat"

BUY = "buy"
SELL = "sell"
NONE = "none"

BELOW_MEDIAN = "below_median"
ABOVE_MEDIAN = "above_median"
NEAR_MEDIAN = "near_median"
TOO_LITTLE_DATA = "too_little_data"


def _div_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half away from zero (denominator > 0), as pricing rounds."""
    sign = -1 if numerator < 0 else 1
    return sign * ((abs(numerator) * 2 + denominator) // (2 * denominator))


# --- one row's figures ---------------------------------------------------------------------------
# A field left at 0 was never recorded (a real price is at least 1 ngwee): the posted price stands in,
# as the model says a slot without trades has open = high = low = close = price.


def open_of(row: SlotPrice) -> int:
    return row.open or row.price


def high_of(row: SlotPrice) -> int:
    return row.high or row.price


def low_of(row: SlotPrice) -> int:
    return row.low or row.price


def close_of(row: SlotPrice) -> int:
    return row.close or row.price


# --- candles ---------------------------------------------------------------------------------------


def candles(rows: Sequence[SlotPrice], bucket_slots: int, *, slot_us: int, offset_s: int = 0) -> list[SlotPrice]:
    """Slot rows (oldest first) folded into buckets of ``bucket_slots`` slots, oldest first.

    A bucket starts at a multiple of its length in local time (``offset_s`` east of UTC), so with
    15-minute slots 4 makes hourly candles and 96 daily ones that run from local midnight. Each
    candle: the first row's open, the last row's close, the highest high, the lowest low, the
    summed volume and trades, and the last posted price with its explanation. A bucket with
    missing slots aggregates the rows it has; an empty bucket makes no candle (none is invented).
    """
    if bucket_slots <= 0 or slot_us <= 0:
        raise ValueError("bucket_slots and slot_us must be positive")
    bucket_us = bucket_slots * slot_us
    offset_us = offset_s * MICROS_PER_SECOND
    out: list[SlotPrice] = []
    group: list[SlotPrice] = []
    group_start = 0
    for i, row in enumerate(rows):
        if i and row.slot_start_us <= rows[i - 1].slot_start_us:
            raise ValueError("rows must be oldest first, one per slot")  # a repeat would count twice
        if row.cluster_id != rows[0].cluster_id:
            raise ValueError("rows of one cluster only")
        start = (row.slot_start_us + offset_us) // bucket_us * bucket_us - offset_us
        if group and start != group_start:
            out.append(_candle(group, group_start))
            group = []
        group.append(row)
        group_start = start
    if group:
        out.append(_candle(group, group_start))
    return out


def _candle(group: list[SlotPrice], start_us: int) -> SlotPrice:
    last = group[-1]
    return SlotPrice(
        cluster_id=last.cluster_id,
        slot_start_us=start_us,
        price=last.price,
        components=dict(last.components),  # a copy: the row's dict stays the row's
        open=open_of(group[0]),
        high=max(high_of(r) for r in group),
        low=min(low_of(r) for r in group),
        close=close_of(last),
        volume_wh=sum(r.volume_wh for r in group),
        trades=sum(r.trades for r in group),
    )


# --- statistics ------------------------------------------------------------------------------------


def volatility_bps(closes: Sequence[int], window: int) -> int | None:
    """The sample standard deviation of the last ``window`` log returns, in basis points.

    Needs ``window + 1`` closes (None with fewer) and a window of at least 2 (a sample standard
    deviation of one value is undefined). The returns are per step of ``closes`` (per slot, or
    per candle), not annualised; a flat series gives 0. Rounded half up to a whole basis point.
    """
    if window < 2:
        raise ValueError("window must be at least 2")
    if len(closes) < window + 1:
        return None
    tail = closes[-(window + 1) :]
    if any(c <= 0 for c in tail):
        raise ValueError("closes must be positive")
    # Floats from here on: a log return is a statistic, not an amount of money or energy, and the
    # result is rounded once to an integer. statistics.stdev sums exactly (as fractions), so the
    # order of the returns cannot change it and a flat series gives exactly 0.
    returns = [math.log(now / before) for before, now in pairwise(tail)]
    return math.floor(statistics.stdev(returns) * BPS + 0.5)


def median(values: Sequence[int]) -> int:
    """The middle value; with an even count, the mean of the two middle values rounded half up.

    The rounded mean rather than the lower middle: it is the median people compute by hand, and
    an integer, so the advice compares integers only.
    """
    if not values:
        raise ValueError("median of no values")
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle] + 1) // 2


# --- trend -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Trend:
    """How the price moved since an earlier one."""

    direction: str  # "up", "down" or "flat"
    change_bps: int  # signed, rounded half away from zero; 0 with nothing to compare with
    previous: int | None  # the earlier price; None: no history that far back


def trend(price_now: int, price_then: int | None, *, flat_bps: int = FLAT_BPS) -> Trend:
    """Up, down or flat since ``price_then``: flat while the move is within +-``flat_bps`` (exactly)."""
    if price_then is None or price_then <= 0:
        return Trend(FLAT, 0, None)
    move = price_now - price_then
    change = _div_half_up(move * BPS, price_then)
    if abs(move) * BPS <= flat_bps * price_then:  # compared before rounding: 1.004% is not flat
        return Trend(FLAT, change, price_then)
    return Trend(UP if move > 0 else DOWN, change, price_then)


# --- advice ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Advice:
    """The published rule's verdict on a price, with what it was based on."""

    kind: str  # "buy", "sell" or "none"
    price: int
    median: int  # of the window's closes; 0 when there were too few
    diff_bps: int  # price against the median, signed, rounded half away from zero; 0 without a median
    slots: int  # history slots (closes) it was based on
    reason: str  # "below_median", "above_median", "near_median" or "too_little_data"


def advise(price: int, closes: Sequence[int], *, min_slots: int, threshold_bps: int) -> Advice:
    """Buy, sell or nothing for ``price`` against the median of ``closes`` (the window's, oldest first)."""
    if not 0 < threshold_bps < BPS:
        raise ValueError("threshold_bps must be between 0 and 10,000")
    slots = len(closes)
    if slots == 0 or slots < min_slots:
        return Advice(NONE, price, 0, 0, slots, TOO_LITTLE_DATA)
    middle = median(closes)
    if middle <= 0:
        raise ValueError("closes must be positive")
    diff = _div_half_up((price - middle) * BPS, middle)
    if price * BPS <= middle * (BPS - threshold_bps):
        return Advice(BUY, price, middle, diff, slots, BELOW_MEDIAN)
    if price * BPS >= middle * (BPS + threshold_bps):
        return Advice(SELL, price, middle, diff, slots, ABOVE_MEDIAN)
    return Advice(NONE, price, middle, diff, slots, NEAR_MEDIAN)


# --- the price screen ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PriceSummary:
    """What the price screen shows: today's range, the day's trend, how jumpy it is, the advice."""

    price: int
    low: int  # today's (local day) lowest, the current price included
    high: int
    trend: Trend  # against the close 24 hours earlier
    volatility_day_bps: int | None  # of hourly closes over the last 24 hourly returns; None: too little
    volatility_week_bps: int | None  # over the last 168 hourly returns (needs 169 hours of rows)
    advice: Advice


def summarise(
    rows: Sequence[SlotPrice],
    *,
    price: int,
    now_slot_us: int,
    slot_us: int,
    day_start_us: int,
    config: MarketConfig,
) -> PriceSummary:
    """The price screen for ``price`` (the slot starting at ``now_slot_us``) from the rows before it.

    ``rows`` are one cluster's history, oldest first; rows after ``now_slot_us`` are ignored.
    ``day_start_us`` is the start of the local day (``local_day_start_us``). The trend compares
    with the close of the latest row at or before 24 hours earlier (a price stands until the
    next is posted); with none, it is flat. Volatility uses hourly candles, so a day and a week
    mean the same for every slot length; gaps are taken as given (see the module). The advice
    uses the closes of the last ``config.advice_window_slots`` rows.
    """
    if slot_us <= 0 or _HOUR_US % slot_us:
        raise ValueError("slot_us must divide an hour")
    past = [r for r in rows if r.slot_start_us <= now_slot_us]
    today = [r for r in past if r.slot_start_us >= day_start_us]
    low = min([price, *(low_of(r) for r in today)])
    high = max([price, *(high_of(r) for r in today)])

    then_us = now_slot_us - _DAY_US
    earlier = [r for r in past if r.slot_start_us <= then_us]
    moved = trend(price, close_of(earlier[-1]) if earlier else None)

    # Hourly candles from UTC hour boundaries: CAT and every whole-hour offset align with them.
    hourly = [close_of(c) for c in candles(past, _HOUR_US // slot_us, slot_us=slot_us)]
    window = past[-config.advice_window_slots :] if config.advice_window_slots > 0 else []
    advice = advise(
        price,
        [close_of(r) for r in window],
        min_slots=config.advice_min_slots,
        threshold_bps=config.advice_threshold_bps,
    )
    return PriceSummary(
        price=price,
        low=low,
        high=high,
        trend=moved,
        volatility_day_bps=volatility_bps(hourly, DAY_HOURS),
        volatility_week_bps=volatility_bps(hourly, WEEK_HOURS),
        advice=advice,
    )
