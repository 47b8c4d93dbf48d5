"""What the grid would have charged: ZESCO's monthly block tariff, effective dates, savings, local months."""

from __future__ import annotations

from datetime import UTC, date, datetime
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.kernel.clock import MICROS_PER_SECOND
from engine.kernel.errors import InvalidAmount
from engine.kernel.units import cost_of_energy
from engine.markets.grid import (
    ZESCO_RESIDENTIAL,
    GridBand,
    GridTariff,
    banded_value,
    grid_cost,
    grid_tariff_at,
    grid_tariff_for_month,
    savings,
)
from engine.markets.model import MonthlyEnergy
from engine.markets.months import month_iso, month_key, month_start_us, next_month

KWH = 1000
CAT = 2 * 3600
# Round figures for hand sums: 0-100 kWh at K0.35, 100-200 at K1.00, 200-400 at K2.42, above at K3.45.
CURRENT = grid_tariff_at("2025-11-01")
# Prices that do not divide evenly, so rounding shows.
ODD = GridTariff(
    effective_from="2020-01-01",
    bands=(GridBand(100 * KWH, 47), GridBand(300 * KWH, 85), GridBand(None, 194)),
    fixed_monthly_ngwee=1823,
    source="test figures",
    source_date="2020-01-01",
)


def utc_us(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()) * MICROS_PER_SECOND


# --- the schedule -------------------------------------------------------------------------------


def test_the_zesco_schedule_is_effective_dated_oldest_first_and_sourced() -> None:
    dates = [date.fromisoformat(t.effective_from) for t in ZESCO_RESIDENTIAL]
    assert dates == sorted(dates)
    assert len(set(dates)) == len(dates)
    assert len(ZESCO_RESIDENTIAL) >= 2
    for tariff in ZESCO_RESIDENTIAL:
        assert tariff.source.strip()
        date.fromisoformat(tariff.source_date)
        assert tariff.bands[-1].up_to_wh is None


def test_the_current_zesco_tariff_is_the_november_2025_one() -> None:
    # ERB, effective 1 Nov 2025: the top band K3.45/kWh (from K6.39); the first 200 kWh unchanged.
    assert CURRENT.effective_from == "2025-11-01"
    assert CURRENT.bands[-1].price == 345
    before = grid_tariff_at("2025-10-31")
    assert before.bands[-1].price == 639
    assert [b.price for b in before.bands[:2]] == [b.price for b in CURRENT.bands[:2]]
    assert CURRENT.fixed_monthly_ngwee == 0


@pytest.mark.parametrize(
    ("day", "effective"),
    [
        ("2025-11-01", "2025-11-01"),
        ("2026-06-15", "2025-11-01"),
        ("2025-10-31", "2024-11-01"),
        ("2024-11-01", "2024-11-01"),
        ("2019-05-01", "2024-11-01"),  # before every entry: the oldest known
    ],
)
def test_the_tariff_in_force_is_the_latest_effective_on_or_before_the_day(day: str, effective: str) -> None:
    assert grid_tariff_at(day).effective_from == effective


def test_a_months_tariff_is_the_one_in_force_on_its_first_day() -> None:
    assert grid_tariff_for_month(202510).effective_from == "2024-11-01"
    assert grid_tariff_for_month(202511).effective_from == "2025-11-01"


def test_a_schedule_lookup_refuses_a_bad_date_or_an_empty_schedule() -> None:
    with pytest.raises(ValueError, match="Invalid isoformat"):
        grid_tariff_at("1/11/2025")
    with pytest.raises(ValueError, match="empty"):
        grid_tariff_at("2025-11-01", ())


@pytest.mark.parametrize(
    ("bands", "refusal"),
    [
        ((), "last band"),
        ((GridBand(100, 10),), "last band"),
        ((GridBand(None, 10), GridBand(None, 20)), "only the last"),
        ((GridBand(200, 10), GridBand(100, 20), GridBand(None, 30)), "increasing"),
        ((GridBand(0, 10), GridBand(None, 30)), "positive"),
        ((GridBand(None, -1),), "negative"),
    ],
)
def test_a_malformed_grid_tariff_is_refused(bands: tuple[GridBand, ...], refusal: str) -> None:
    with pytest.raises(ValueError, match=refusal):
        GridTariff("2025-11-01", bands, 0, "x", "2025-11-01")


# --- costs ----------------------------------------------------------------------------------------


def test_150_kwh_across_the_first_band_boundary_costs_the_hand_computed_sum() -> None:
    # 100 kWh x K0.35 + 50 kWh x K1.00 = K35.00 + K50.00
    assert grid_cost(150 * KWH, CURRENT) == 8500
    # 100 x 47 ngwee + 50 x 85 ngwee = 4,700 + 4,250
    assert grid_cost(150 * KWH, ODD) == 8950


def test_a_month_reaching_the_top_band_costs_every_band_in_turn() -> None:
    # 100 x 0.35 + 100 x 1.00 + 200 x 2.42 + 100 x 3.45 = 35 + 100 + 484 + 345 = K964.00
    assert grid_cost(500 * KWH, CURRENT) == 96_400


def test_energy_bought_later_in_the_month_starts_where_the_month_is() -> None:
    # 80 kWh already: 20 kWh more at K0.35, then 30 kWh at K1.00 = K7.00 + K30.00
    assert grid_cost(50 * KWH, CURRENT, already_wh=80 * KWH) == 3700
    assert grid_cost(10 * KWH, CURRENT, already_wh=450 * KWH) == 3450  # all in the top band


def test_inside_one_band_the_cost_is_cost_of_energy() -> None:
    for wh in (0, 1, 499, 500, 1234, 99_999, 100_000):
        assert grid_cost(wh, ODD) == cost_of_energy(wh, 47)


def test_small_amounts_round_half_up_to_the_ngwee() -> None:
    assert grid_cost(10, ODD) == 0  # 0.47 ngwee
    assert grid_cost(11, ODD) == 1  # 0.517 ngwee


def test_negative_energy_is_refused() -> None:
    with pytest.raises(InvalidAmount):
        grid_cost(-1, CURRENT)
    with pytest.raises(InvalidAmount):
        grid_cost(1, CURRENT, already_wh=-1)


energy = st.integers(0, 2_000 * KWH)
tariffs = st.sampled_from([*ZESCO_RESIDENTIAL, ODD])


@given(energy, energy, tariffs)
def test_costs_of_successive_purchases_add_up_to_the_months_cost_exactly(a: int, b: int, tariff: GridTariff) -> None:
    # Exact, not within a ngwee: each cost is the month's rounded total after it less the one before.
    assert grid_cost(a, tariff) + grid_cost(b, tariff, already_wh=a) == grid_cost(a + b, tariff)


@given(st.lists(st.integers(0, 50 * KWH), max_size=30), tariffs)
def test_any_number_of_purchases_adds_up_to_the_months_cost(purchases: list[int], tariff: GridTariff) -> None:
    used = paid = 0
    for wh in purchases:
        paid += grid_cost(wh, tariff, already_wh=used)
        used += wh
    assert paid == grid_cost(used, tariff)


@given(energy, energy, tariffs)
def test_a_cost_is_within_a_ngwee_of_the_exact_banded_value(wh: int, already: int, tariff: GridTariff) -> None:
    exact = Fraction(banded_value(already + wh, tariff) - banded_value(already, tariff), 1000)
    cost = grid_cost(wh, tariff, already_wh=already)
    assert cost >= 0
    assert abs(cost - exact) < 1


@given(energy, st.integers(1, 10 * KWH), tariffs)
def test_the_same_energy_never_costs_less_later_in_the_month(wh: int, extra: int, tariff: GridTariff) -> None:
    # Blocks only get dearer: the exact value of a later kWh is at least an earlier one's.
    later = banded_value(extra + wh, tariff) - banded_value(extra, tariff)
    assert later >= banded_value(wh, tariff)


# --- savings ----------------------------------------------------------------------------------------


def test_savings_when_the_market_was_cheaper() -> None:
    month = MonthlyEnergy(user_id=7, month=202511, wh=150 * KWH, ngwee=6000)
    saved = savings(month, CURRENT)
    assert (saved.wh, saved.paid_ngwee, saved.grid_ngwee, saved.saved_ngwee) == (150 * KWH, 6000, 8500, 2500)
    assert not saved.paid_more
    assert saved.tariff_effective_from == "2025-11-01"
    assert saved.tariff_source == CURRENT.source
    assert saved.tariff_source_date == CURRENT.source_date


def test_savings_are_negative_when_the_market_was_dearer() -> None:
    month = MonthlyEnergy(user_id=7, month=202511, wh=50 * KWH, ngwee=2500)  # K25 for what ZESCO sells at K17.50
    saved = savings(month, CURRENT)
    assert saved.grid_ngwee == 1750
    assert saved.saved_ngwee == -750
    assert saved.paid_more


def test_savings_leave_the_fixed_monthly_charge_apart() -> None:
    month = MonthlyEnergy(user_id=7, month=202001, wh=100 * KWH, ngwee=1000)
    assert savings(month, ODD).grid_ngwee == 4700  # energy only, not 4,700 + 1,823


def test_a_month_without_energy_saved_nothing() -> None:
    saved = savings(MonthlyEnergy(user_id=7, month=202511), CURRENT)
    assert (saved.grid_ngwee, saved.saved_ngwee, saved.paid_more) == (0, 0, False)


# --- local months ---------------------------------------------------------------------------------


def test_a_month_follows_the_local_clock() -> None:
    # 31 Oct 22:00 UTC is 1 Nov 00:00 in Lusaka.
    assert month_key(utc_us(2025, 10, 31, 21, 59), CAT) == 202510
    assert month_key(utc_us(2025, 10, 31, 22, 0), CAT) == 202511
    assert month_key(utc_us(2025, 10, 31, 22, 0), 0) == 202510


def test_a_month_starts_at_local_midnight_on_its_first() -> None:
    assert month_start_us(202511, CAT) == utc_us(2025, 10, 31, 22, 0)
    assert month_start_us(202601, 0) == utc_us(2026, 1, 1)


def test_the_month_after_december_is_january() -> None:
    assert next_month(202512) == 202601
    assert next_month(202511) == 202512
    assert month_iso(202511) == "2025-11-01"


@pytest.mark.parametrize("bad", [202513, 202500, 2025, 0])
def test_a_month_that_is_not_yyyymm_is_refused(bad: int) -> None:
    with pytest.raises(ValueError, match="yyyymm"):
        month_start_us(bad, CAT)


@given(st.integers(1971, 2200), st.integers(1, 12), st.sampled_from([0, CAT, -5 * 3600, 14 * 3600]))
def test_a_month_runs_from_its_start_to_the_next_ones(year: int, number: int, offset: int) -> None:
    month = year * 100 + number
    start = month_start_us(month, offset)
    end = month_start_us(next_month(month), offset)
    assert month_key(start, offset) == month
    assert month_key(end - 1, offset) == month
    assert month_key(start - 1, offset) != month
    assert 28 * 86_400 * MICROS_PER_SECOND <= end - start <= 31 * 86_400 * MICROS_PER_SECOND
