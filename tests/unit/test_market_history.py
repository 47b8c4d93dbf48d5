"""Price history read back: candles, volatility, median, trend, the published advice rule, the price screen."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import UTC, datetime
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.kernel.clock import MICROS_PER_SECOND
from engine.kernel.local_time import local_day_start_us
from engine.markets.config import MarketConfig
from engine.markets.history import (
    Advice,
    PriceSummary,
    Trend,
    advise,
    candles,
    median,
    summarise,
    trend,
    volatility_bps,
)
from engine.markets.model import SlotPrice

CAT = 2 * 3600  # Lusaka, UTC+2
SLOT_US = 15 * 60 * MICROS_PER_SECOND
HOUR_US = 3600 * MICROS_PER_SECOND
DAY_US = 24 * HOUR_US
DAY_SLOTS = 96
WEEK_SLOTS = 7 * DAY_SLOTS
T0 = int(datetime(2025, 11, 3, tzinfo=UTC).timestamp()) * MICROS_PER_SECOND  # a UTC midnight
CONFIG = MarketConfig()


def row(slot: int, price: int, **fields: int) -> SlotPrice:
    """The history row of slot number ``slot`` after T0; OHLC default to the price (no trades)."""
    ohlc = {"open": price, "high": price, "low": price, "close": price}
    return SlotPrice("c1", T0 + slot * SLOT_US, price, {"base": price}, **{**ohlc, **fields})


def flat_rows(first: int, count: int, price: int = 1000) -> list[SlotPrice]:
    return [row(first + i, price) for i in range(count)]


# --- candles -------------------------------------------------------------------------------


def test_hourly_candles_aggregate_each_hour_and_skip_a_missing_slot() -> None:
    rows = [
        row(0, 100, open=100, high=120, low=95, close=110, volume_wh=1000, trades=1),
        row(1, 110, open=110, high=130, low=105, close=125, volume_wh=2000, trades=2),
        # slot 2 has no row: the hour aggregates the three it has
        row(3, 125, open=125, high=126, low=90, close=100, volume_wh=500, trades=1),
        row(4, 101),  # the next hour, no trades
        row(5, 102),
    ]
    first, second = candles(rows, 4, slot_us=SLOT_US)
    assert first == SlotPrice(
        "c1", T0, 125, {"base": 125}, open=100, high=130, low=90, close=100, volume_wh=3500, trades=4
    )
    assert second.slot_start_us == T0 + HOUR_US
    assert (second.open, second.high, second.low, second.close, second.price) == (101, 102, 101, 102, 102)
    assert (second.volume_wh, second.trades) == (0, 0)


def test_an_hour_without_rows_makes_no_candle() -> None:
    rows = [row(0, 100), row(1, 101), row(9, 109)]  # nothing in the second hour (slots 4-7)
    made = candles(rows, 4, slot_us=SLOT_US)
    assert [c.slot_start_us for c in made] == [T0, T0 + 2 * HOUR_US]
    assert [c.close for c in made] == [101, 109]


def test_candles_align_to_the_bucket_not_to_the_first_row() -> None:
    rows = [row(3, 100), row(4, 200)]  # 00:45 and 01:00 UTC
    made = candles(rows, 4, slot_us=SLOT_US)
    assert [(c.slot_start_us, c.close) for c in made] == [(T0, 100), (T0 + HOUR_US, 200)]


def test_daily_candles_run_from_local_midnight() -> None:
    # 21:45 UTC and 22:00 UTC on the same UTC day are 23:45 and 00:00 in Lusaka: two local days.
    rows = [row(87, 100), row(88, 200), row(95, 300)]
    made = candles(rows, DAY_SLOTS, slot_us=SLOT_US, offset_s=CAT)
    assert [c.slot_start_us for c in made] == [T0 - 2 * HOUR_US, T0 + 22 * HOUR_US]
    assert [(c.open, c.close, c.high, c.low) for c in made] == [(100, 100, 100, 100), (200, 300, 300, 200)]
    assert len(candles(rows, DAY_SLOTS, slot_us=SLOT_US)) == 1  # by UTC days they are one


def test_a_slot_without_trades_recorded_as_zeros_counts_at_its_posted_price() -> None:
    bare = SlotPrice("c1", T0, 150)  # open/high/low/close left at 0
    (made,) = candles([bare, row(1, 140)], 4, slot_us=SLOT_US)
    assert (made.open, made.high, made.low, made.close) == (150, 150, 140, 140)


def test_candles_of_no_rows_are_none() -> None:
    assert candles([], 4, slot_us=SLOT_US) == []


@pytest.mark.parametrize(
    ("rows", "refusal"),
    [
        ([row(1, 100), row(0, 100)], "oldest first"),  # newest first
        ([row(0, 100), row(0, 101)], "oldest first"),  # one slot twice
        ([row(0, 100), replace(row(5, 100), cluster_id="c2")], "one cluster"),
    ],
)
def test_candles_refuse_rows_out_of_order_or_of_two_clusters(rows: list[SlotPrice], refusal: str) -> None:
    with pytest.raises(ValueError, match=refusal):
        candles(rows, 4, slot_us=SLOT_US)


def test_candles_need_a_positive_bucket() -> None:
    with pytest.raises(ValueError, match="positive"):
        candles([row(0, 1)], 0, slot_us=SLOT_US)


# --- volatility -------------------------------------------------------------------------------


def test_volatility_needs_one_more_close_than_its_window() -> None:
    assert volatility_bps([100, 101, 102], 3) is None
    assert volatility_bps([], 2) is None
    assert volatility_bps([100, 101, 102, 103], 3) is not None


def test_a_flat_series_has_no_volatility() -> None:
    assert volatility_bps([1234] * 50, 24) == 0


def test_volatility_of_hand_computed_series() -> None:
    # Returns ln 2 and -ln 2: mean 0, sample variance 2 (ln 2)^2 / 1, deviation sqrt(2) ln 2 = 0.980258...
    assert volatility_bps([100, 200, 100], 2) == 9803
    # Returns ln 1.1 and ln 0.9: the sample deviation of two values is |a - b| / sqrt 2 = 0.1418958...
    assert volatility_bps([100, 110, 99], 2) == 1419


def test_volatility_reads_only_the_last_window_of_closes() -> None:
    assert volatility_bps([5, 900, 3, 100, 200, 100], 2) == 9803


def test_volatility_refuses_a_window_too_small_for_a_sample_or_non_positive_closes() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        volatility_bps([100, 101], 1)
    with pytest.raises(ValueError, match="positive"):
        volatility_bps([100, 0, 100], 2)


closes_lists = st.lists(st.integers(1, 10**6), min_size=3, max_size=40)


@given(closes_lists, st.integers(2, 10**4))
def test_volatility_does_not_depend_on_the_price_level(closes: list[int], factor: int) -> None:
    # A Kwacha that halves moves every price alike: the same returns, the same volatility.
    window = len(closes) - 1
    assert volatility_bps([c * factor for c in closes], window) == volatility_bps(closes, window)


@given(closes_lists)
def test_volatility_is_non_negative_and_the_same_read_backwards(closes: list[int]) -> None:
    window = len(closes) - 1
    forward = volatility_bps(closes, window)
    backward = volatility_bps(closes[::-1], window)
    assert forward is not None
    assert backward is not None
    assert forward >= 0
    assert abs(forward - backward) <= 1  # the same returns, negated: equal up to a float's last bit


# --- median -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "middle"),
    [([7], 7), ([3, 1, 2], 2), ([1, 3], 2), ([1, 2], 2), ([100, 101], 101), ([4, 1, 3, 2], 3), ([5, 5, 9, 9], 7)],
)
def test_median_of_an_even_count_is_the_mean_of_the_middle_two_rounded_half_up(values: list[int], middle: int) -> None:
    assert median(values) == middle


def test_median_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="no values"):
        median([])


values_lists = st.lists(st.integers(1, 10**7), min_size=1, max_size=60)


@given(values_lists, st.randoms(use_true_random=False))
def test_median_lies_between_the_extremes_and_ignores_order(values: list[int], rnd: random.Random) -> None:
    shuffled = list(values)
    rnd.shuffle(shuffled)
    assert min(values) <= median(values) <= max(values)
    assert median(shuffled) == median(values)


@given(values_lists, st.integers(-1000, 1000))
def test_median_moves_with_a_shift_of_every_value(values: list[int], shift: int) -> None:
    assert median([v + shift for v in values]) == median(values) + shift


@given(values_lists)
def test_median_is_within_half_a_ngwee_of_the_exact_median(values: list[int]) -> None:
    ordered = sorted(values)
    n = len(ordered)
    exact = Fraction(ordered[(n - 1) // 2] + ordered[n // 2], 2)
    assert median(values) - exact in (0, Fraction(1, 2))


# --- trend --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "then", "expected"),
    [
        (110, 100, Trend("up", 1000, 100)),
        (90, 100, Trend("down", -1000, 100)),
        (1010, 1000, Trend("flat", 100, 1000)),  # exactly 1%: still flat
        (990, 1000, Trend("flat", -100, 1000)),
        (10101, 10000, Trend("up", 101, 10000)),  # 1.01%: up
        (100, 100, Trend("flat", 0, 100)),
        (100, None, Trend("flat", 0, None)),  # nothing to compare with
    ],
)
def test_trend_direction_and_change(now: int, then: int | None, expected: Trend) -> None:
    assert trend(now, then) == expected


def test_a_move_just_over_one_percent_is_not_flat_even_if_it_rounds_to_one() -> None:
    assert trend(100_001 + 1000, 100_001).direction == "flat"  # 0.99999%
    assert trend(100_000 + 1001, 100_000) == Trend("up", 100, 100_000)  # 1.001% shows +1.00% yet is up


# --- advice -------------------------------------------------------------------------------------


def week_of(median_close: int) -> list[int]:
    return [median_close] * WEEK_SLOTS


def advice(price: int, closes: list[int]) -> Advice:
    return advise(price, closes, min_slots=CONFIG.advice_min_slots, threshold_bps=CONFIG.advice_threshold_bps)


def test_advice_says_buy_at_exactly_15_percent_below_the_weeks_median_and_not_at_14_9() -> None:
    assert advice(850, week_of(1000)) == Advice("buy", 850, 1000, -1500, WEEK_SLOTS, "below_median")
    assert advice(8510, week_of(10_000)) == Advice("none", 8510, 10_000, -1490, WEEK_SLOTS, "near_median")
    assert advice(700, week_of(1000)).kind == "buy"


def test_advice_says_sell_at_exactly_15_percent_above_and_not_at_14_9() -> None:
    assert advice(1150, week_of(1000)) == Advice("sell", 1150, 1000, 1500, WEEK_SLOTS, "above_median")
    assert advice(11_490, week_of(10_000)).reason == "near_median"


def test_the_boundary_is_exact_when_15_percent_is_not_a_whole_ngwee() -> None:
    # 85% of 999 is 849.15: 849 is 15.015% below (buy), 850 is 14.91% below (no advice).
    assert advice(849, week_of(999)).kind == "buy"
    assert advice(850, week_of(999)).kind == "none"


def test_no_advice_with_two_days_of_data() -> None:
    assert advice(500, [1000] * (2 * DAY_SLOTS)) == Advice("none", 500, 0, 0, 2 * DAY_SLOTS, "too_little_data")
    assert advice(500, []) == Advice("none", 500, 0, 0, 0, "too_little_data")


def test_advice_starts_at_three_days_of_data() -> None:
    assert advice(500, [1000] * (3 * DAY_SLOTS)).kind == "buy"


def test_advice_uses_the_median_so_one_spike_does_not_move_it() -> None:
    closes = week_of(1000)
    closes[100] = 1_000_000
    assert advice(850, closes).median == 1000


def test_advice_refuses_a_threshold_outside_0_to_100_percent() -> None:
    with pytest.raises(ValueError, match="threshold"):
        advise(100, [100], min_slots=1, threshold_bps=0)


@given(st.integers(1, 10**6), st.lists(st.integers(1, 10**6), min_size=1, max_size=50), st.integers(1, 9_999))
def test_advice_follows_the_published_rule_exactly(price: int, closes: list[int], threshold: int) -> None:
    given_advice = advise(price, closes, min_slots=1, threshold_bps=threshold)
    ratio = Fraction(price, median(closes))
    if ratio <= 1 - Fraction(threshold, 10_000):
        assert (given_advice.kind, given_advice.reason) == ("buy", "below_median")
    elif ratio >= 1 + Fraction(threshold, 10_000):
        assert (given_advice.kind, given_advice.reason) == ("sell", "above_median")
    else:
        assert (given_advice.kind, given_advice.reason) == ("none", "near_median")
    assert given_advice.slots == len(closes)
    assert abs(Fraction(given_advice.diff_bps) - (ratio - 1) * 10_000) <= Fraction(1, 2)


# --- the price screen ---------------------------------------------------------------------------

NOW_SLOT = WEEK_SLOTS + 4 + 40  # 10:00 UTC (12:00 in Lusaka) more than a week and an hour after T0


def screen(rows: list[SlotPrice], price: int, now_slot: int = NOW_SLOT) -> PriceSummary:
    now_us = T0 + now_slot * SLOT_US
    return summarise(
        rows,
        price=price,
        now_slot_us=now_us,
        slot_us=SLOT_US,
        day_start_us=local_day_start_us(now_us, CAT),
        config=CONFIG,
    )


def test_the_screen_after_a_calm_week_advises_buying_a_dip() -> None:
    rows = flat_rows(0, NOW_SLOT)  # every slot before now at K10.00/kWh
    summary = screen(rows, 840)
    assert summary.price == 840
    assert (summary.low, summary.high) == (840, 1000)
    assert summary.trend == Trend("down", -1600, 1000)
    assert summary.volatility_day_bps == 0
    assert summary.volatility_week_bps == 0
    assert summary.advice == Advice("buy", 840, 1000, -1600, WEEK_SLOTS, "below_median")


def test_todays_range_counts_only_todays_rows_and_the_current_price() -> None:
    day_start_slot = (local_day_start_us(T0 + NOW_SLOT * SLOT_US, CAT) - T0) // SLOT_US
    rows = flat_rows(0, NOW_SLOT)
    rows[day_start_slot - 1] = row(day_start_slot - 1, 1000, high=5000, low=10)  # yesterday: not today's
    rows[day_start_slot] = row(day_start_slot, 1000, high=1300, low=700)
    summary = screen(rows, 1010)
    assert (summary.low, summary.high) == (700, 1300)


def test_with_two_days_of_history_there_is_no_advice_and_no_weekly_volatility() -> None:
    rows = flat_rows(NOW_SLOT - 2 * DAY_SLOTS, 2 * DAY_SLOTS)
    summary = screen(rows, 500)
    assert summary.advice.reason == "too_little_data"
    assert summary.volatility_week_bps is None
    assert summary.volatility_day_bps == 0
    assert summary.trend == Trend("down", -5000, 1000)


def test_a_new_cluster_shows_a_flat_trend_and_no_volatility() -> None:
    summary = screen([], 1000)
    assert summary.trend == Trend("flat", 0, None)
    assert summary.volatility_day_bps is None
    assert (summary.low, summary.high) == (1000, 1000)


def test_the_trend_uses_the_last_price_posted_by_24_hours_ago_across_a_gap() -> None:
    then = NOW_SLOT - DAY_SLOTS
    rows = [row(then - 3, 800), *flat_rows(then + 1, DAY_SLOTS - 1, 1200)]  # nothing at exactly -24 h
    assert screen(rows, 1000).trend == Trend("up", 2500, 800)


def test_the_advice_window_is_the_last_week_of_rows() -> None:
    old = flat_rows(0, 100, 5000)  # dear, but more than a week before now
    rows = [*old, *flat_rows(100, NOW_SLOT - 100, 1000)]
    summary = screen(rows, 1000)
    assert summary.advice.median == 1000
    assert summary.advice.slots == WEEK_SLOTS


def test_rows_after_now_are_ignored() -> None:
    rows = [*flat_rows(0, NOW_SLOT), row(NOW_SLOT + 1, 9000, high=9000)]
    summary = screen(rows, 1000)
    assert summary.high == 1000


def test_volatility_on_the_screen_is_of_hourly_closes() -> None:
    # Hourly closes alternating 1000 and 2000 over the last day: returns +-ln 2 (their mean is ~0).
    rows = flat_rows(0, NOW_SLOT)
    for hour in range(NOW_SLOT // 4 - 25, NOW_SLOT // 4):
        last = hour * 4 + 3
        rows[last] = row(last, 2000 if hour % 2 else 1000)
    summary = screen(rows, 1000)
    returns = [math.log(2) * (1 if i % 2 else -1) for i in range(24)]
    mean = sum(returns) / 24
    expected = math.sqrt(sum((r - mean) ** 2 for r in returns) / 23)
    assert summary.volatility_day_bps == math.floor(expected * 10_000 + 0.5)
