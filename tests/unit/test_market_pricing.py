"""A cluster's price per slot, as a user or an operator would notice it: when it is dear, what moves it, how far."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.energy.model import Cluster, ClusterKind
from engine.kernel.clock import MICROS_PER_SECOND
from engine.markets.config import SOLAR_PERIODS, MarketConfig
from engine.markets.model import Tariff, TouPeriod
from engine.markets.pricing import Conditions, PriceExplanation, default_tariff, price_for_slot, validate_tariff

CAT = 2 * 3600  # Lusaka, UTC+2
HOUR_US = 3600 * MICROS_PER_SECOND
SLOT_US = 15 * 60 * MICROS_PER_SECOND
MIDNIGHT_CAT = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp()) * MICROS_PER_SECOND - 2 * HOUR_US
CONFIG = MarketConfig()
TARIFF = Tariff("kabwe-mini", 0, base=120, floor=90, cap=180, periods=SOLAR_PERIODS, lifeline_wh=2_000,
                source="ERB-approved mini-grid tariff", source_date="2026-01-15")  # fmt: skip
CALM = Conditions(utilisation_permille=500, buy_wh=0, sell_wh=0)  # half the pool sold, an empty book


def at(hour: int, minute: int = 0) -> int:
    """A slot start at local (CAT) time on a March day."""
    return MIDNIGHT_CAT + hour * HOUR_US + minute * 60 * MICROS_PER_SECOND


def price(
    slot: int,
    conditions: Conditions = CALM,
    *,
    previous: int = 0,
    slots_since: int = 1,
    tariff: Tariff = TARIFF,
    config: MarketConfig = CONFIG,
) -> PriceExplanation:
    return price_for_slot(tariff, conditions, slot_start=slot, previous=previous, slots_since=slots_since,
                          config=config, offset_s=CAT)  # fmt: skip


def test_the_evening_peak_is_dearer_than_midday_in_the_same_conditions() -> None:
    peak, midday, morning = price(at(19)), price(at(12)), price(at(8))
    assert (peak.period, midday.period, morning.period) == ("peak", "midday", "")
    assert midday.price < morning.price == TARIFF.base < peak.price
    assert (midday.price, peak.price) == (96, 156)  # 80% and 130% of K1.20


@pytest.mark.parametrize(
    ("hour", "minute", "period"),
    [(17, 45, ""), (18, 0, "peak"), (21, 45, "peak"), (22, 0, "night"), (5, 45, "night"), (6, 0, "")],
)
def test_the_peak_runs_from_18_00_to_22_00_local_time(hour: int, minute: int, period: str) -> None:
    assert price(at(hour, minute)).period == period


def test_a_sold_out_pool_raises_the_price_and_an_unsold_one_lowers_it() -> None:
    sold_out, unsold = replace(CALM, utilisation_permille=1000), replace(CALM, utilisation_permille=0)
    assert price(at(8), unsold).price < price(at(8)).price < price(at(8), sold_out).price
    assert (price(at(8), unsold).price, price(at(8), sold_out).price) == (96, 144)  # -20%, +20%


def test_waiting_buyers_raise_the_price_and_waiting_sellers_lower_it() -> None:
    buyers, sellers = replace(CALM, buy_wh=5_000), replace(CALM, sell_wh=5_000)
    assert price(at(8), sellers).price < price(at(8)).price < price(at(8), buyers).price
    balanced = replace(CALM, buy_wh=5_000, sell_wh=5_000)
    assert price(at(8), balanced).price == TARIFF.base


def test_with_no_history_the_price_starts_at_its_target() -> None:
    busy = Conditions(utilisation_permille=800, buy_wh=3_000, sell_wh=1_000)
    first = price(at(8), busy)
    assert first.previous == 0
    assert first.price == first.target == 143
    assert price(at(8), busy, previous=120).price < first.target  # with history it only moves toward it


def test_one_slot_moves_at_most_five_percent_of_the_last_price() -> None:
    surge = Conditions(utilisation_permille=1000, buy_wh=9_000, sell_wh=0)
    moved = price(at(19), surge, previous=120)
    assert moved.target > 180
    assert moved.price == 126


conditions_strategy = st.builds(
    Conditions, st.integers(-100, 1_200), st.integers(0, 1_000_000), st.integers(0, 1_000_000)
)
slot_strategy = st.integers(0, 4 * 24 * 4 - 1).map(lambda n: MIDNIGHT_CAT + n * SLOT_US)


@given(conditions_strategy, slot_strategy, st.integers(TARIFF.floor, TARIFF.cap))
def test_a_single_slot_never_moves_more_than_the_step_cap(conditions: Conditions, slot: int, previous: int) -> None:
    moved = price(slot, conditions, previous=previous, slots_since=1).price
    assert abs(moved - previous) <= max(1, previous * CONFIG.max_step_bps // 10_000)


@given(conditions_strategy, slot_strategy, st.integers(0, 1_000), st.integers(0, 500))
def test_the_price_never_leaves_floor_to_cap(conditions: Conditions, slot: int, previous: int, since: int) -> None:
    explained = price(slot, conditions, previous=previous, slots_since=since)
    assert TARIFF.floor <= explained.price <= TARIFF.cap
    assert explained.bounded == (explained.price in (TARIFF.floor, TARIFF.cap))


def test_catching_up_missed_slots_replays_at_most_max_catch_up_slots_steps() -> None:
    config = replace(CONFIG, max_catch_up_slots=3)
    wide = replace(TARIFF, floor=10, cap=1_000)
    surge = Conditions(utilisation_permille=1000, buy_wh=1, sell_wh=0)  # target far above 100
    steps = [price(at(19), surge, previous=100, slots_since=n, tariff=wide, config=config).price for n in range(1, 6)]
    assert steps[0] < steps[1] < steps[2] == steps[3] == steps[4]
    assert steps[2] - 100 <= 3 * (steps[2] * CONFIG.max_step_bps // 10_000)
    month_later = price(at(19), surge, previous=100, slots_since=30 * 96, tariff=wide, config=config)
    assert month_later.price == steps[2]
    assert month_later.slots_since == 30 * 96


def test_a_day_of_missed_slots_settles_at_the_target() -> None:
    caught_up = price(at(19), previous=100, slots_since=96)
    assert caught_up.price == caught_up.target == 156


def test_the_explanation_adds_up() -> None:
    explained = price(at(19), Conditions(utilisation_permille=750, buy_wh=2_000, sell_wh=1_000))
    assert (explained.base, explained.period_bps) == (120, 13_000)
    assert (explained.utilisation_bps, explained.imbalance_bps) == (1_000, 500)  # +10% and +5%
    assert explained.target == 179  # 156 x 1.15 = 179.4
    assert explained.components()["target"] == explained.target
    assert explained.price == 179


def test_a_valid_tariff_passes() -> None:
    assert validate_tariff(TARIFF) is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"periods": (*SOLAR_PERIODS, TouPeriod("late", 21 * 60, 23 * 60, 12_000))}, "periods"),  # overlaps peak
        ({"periods": (TouPeriod("all", 0, 23 * 60, 9_000), TouPeriod("wrap", 22 * 60, 60, 9_000))}, "periods"),
        ({"periods": (TouPeriod("none", 6 * 60, 6 * 60, 9_000),)}, "periods"),
        ({"floor": 130}, "base"),  # a floor above the base
        ({"cap": 100}, "base"),
        ({"floor": 0}, "floor"),
        ({"source": "  "}, "source"),
        ({"source": ""}, "source"),
    ],
)
def test_an_unusable_tariff_names_the_field_to_fix(change: dict[str, object], field: str) -> None:
    assert validate_tariff(replace(TARIFF, **change)) == field  # type: ignore[arg-type]


def test_a_cluster_without_a_tariff_is_priced_from_its_listed_price() -> None:
    cluster = Cluster("kabwe-mini", "Kabwe Mini", ClusterKind.MICRO, "Central", 40_000, 120)
    tariff = default_tariff(cluster, CONFIG)
    assert (tariff.base, tariff.floor, tariff.cap) == (120, 90, 180)
    assert tariff.periods == SOLAR_PERIODS
    assert validate_tariff(tariff) is None
    assert tariff.source
