"""Unit tests for engine.units: integer money/energy/price parsing, formatting and arithmetic."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.kernel.errors import (
    AmbiguousAmount,
    AmountNotPositive,
    AmountTooLarge,
    EnerlectraError,
    InvalidAmount,
    InvalidInput,
    TooManyDecimals,
)
from engine.kernel.units import (
    MAX_NGWEE,
    MAX_WH,
    basis_points_rounded_up,
    cost_of_energy,
    format_energy,
    format_money,
    format_price,
    parse_energy,
    parse_money,
    parse_price,
    split_proportionally,
)

# --- helpers -----------------------------------------------------------------


def exact_share(total: int, weight: int, weights: list[int]) -> Fraction:
    return Fraction(total * weight, sum(weights))


def round_half_up(value: Fraction) -> int:
    return int((value + Fraction(1, 2)) // 1)


def without_grouping(text: str) -> str:
    """What a person would type after reading a formatted amount (no thousands separators)."""
    return text.replace(",", "")


money_ngwee = st.integers(min_value=1, max_value=MAX_NGWEE)
energy_wh = st.integers(min_value=1, max_value=MAX_WH)
positive_weights = st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=20).filter(any)


# --- parse_money ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ngwee"),
    [
        ("12", 1200),
        ("12.5", 1250),
        ("12.50", 1250),
        ("0.01", 1),
        ("0.5", 50),
        ("12.", 1200),
        ("007", 700),
        ("10000000000", MAX_NGWEE),
    ],
)
def test_parse_money_reads_plain_numbers_as_kwacha(text: str, ngwee: int) -> None:
    assert parse_money(text) == ngwee


@pytest.mark.parametrize(
    "text",
    ["K12.50", "k12.50", "K 12.50", "ZMW 12.50", "zmw12.50", "ZMW12.50", "ZK12.50", "zk 12.50"],
)
def test_parse_money_accepts_kwacha_prefixes(text: str) -> None:
    assert parse_money(text) == 1250


@pytest.mark.parametrize(("text", "ngwee"), [("12,50", 1250), ("12,5", 1250), ("0,01", 1), ("K1,2", 120)])
def test_parse_money_reads_comma_as_decimal_point(text: str, ngwee: int) -> None:
    assert parse_money(text) == ngwee


def test_parse_money_ignores_surrounding_whitespace() -> None:
    assert parse_money("  K 7.25 \n") == 725


@pytest.mark.parametrize("text", ["1,000", "K1,000", "12,345"])
def test_parse_money_refuses_a_thousands_separator_as_too_many_decimals(text: str) -> None:
    with pytest.raises(TooManyDecimals) as excinfo:
        parse_money(text)
    assert excinfo.value.code == "too_many_decimals"


@pytest.mark.parametrize("text", ["1,000.50", "1,000,000", "1 000", "1.000.000"])
def test_parse_money_refuses_grouped_numbers_it_cannot_read(text: str) -> None:
    with pytest.raises(InvalidAmount):
        parse_money(text)


@pytest.mark.parametrize("text", ["12.505", "12.500", "0.001", "1,999"])
def test_parse_money_refuses_a_third_decimal_instead_of_rounding(text: str) -> None:
    with pytest.raises(TooManyDecimals) as excinfo:
        parse_money(text)
    assert excinfo.value.code == "too_many_decimals"
    assert excinfo.value.params["decimals"] == 2


@pytest.mark.parametrize("text", ["0", "0.00", "K0", "0,0", "ZMW 0.00"])
def test_parse_money_refuses_zero(text: str) -> None:
    with pytest.raises(AmountNotPositive) as excinfo:
        parse_money(text)
    assert excinfo.value.code == "amount_not_positive"


@pytest.mark.parametrize("text", ["0", "0.00", "K0"])
def test_parse_money_accepts_zero_when_allowed(text: str) -> None:
    assert parse_money(text, allow_zero=True) == 0


@pytest.mark.parametrize("text", ["-5", "-0.50", "K-5", "-K5", "-0"])
def test_parse_money_refuses_negative_amounts_as_not_positive(text: str) -> None:
    with pytest.raises(AmountNotPositive) as excinfo:
        parse_money(text)
    assert excinfo.value.code == "amount_not_positive"


def test_parse_money_refuses_negative_even_when_zero_is_allowed() -> None:
    with pytest.raises(AmountNotPositive):
        parse_money("-1", allow_zero=True)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "K", "ZMW", "abc", "12abc", ".5", "+5", "12.50 K", "1e3", "12.5.0", "K K12", "3.5 kWh"],
)
def test_parse_money_refuses_text_that_is_not_a_number(text: str) -> None:
    with pytest.raises(InvalidAmount) as excinfo:
        parse_money(text)
    assert type(excinfo.value) is InvalidAmount
    assert excinfo.value.code == "invalid_amount"


@pytest.mark.parametrize("text", ["10000000000.01", "10000000001", "999999999999999"])
def test_parse_money_refuses_amounts_above_the_limit(text: str) -> None:
    with pytest.raises(AmountTooLarge) as excinfo:
        parse_money(text)
    assert excinfo.value.code == "amount_too_large"


def test_parse_money_refuses_absurdly_long_numbers() -> None:
    # 16+ digits do not match the number pattern at all; any InvalidAmount is a refusal.
    with pytest.raises(InvalidAmount):
        parse_money("9" * 40)


@given(
    whole=st.integers(min_value=0, max_value=10**10 - 1),
    frac=st.text(alphabet="0123456789", max_size=2),
    sep=st.sampled_from(".,"),
    prefix=st.sampled_from(["", "K", "k", "K ", "ZMW ", "zmw", "ZK"]),
)
def test_parse_money_matches_exact_decimal_value(whole: int, frac: str, sep: str, prefix: str) -> None:
    text = f"{prefix}{whole}{sep}{frac}" if frac else f"{prefix}{whole}"
    expected = whole * 100 + int(frac.ljust(2, "0"))
    if expected == 0:
        with pytest.raises(AmountNotPositive):
            parse_money(text)
    else:
        result = parse_money(text)
        assert type(result) is int
        assert result == expected


@given(whole=st.integers(min_value=0, max_value=10**6), frac=st.text(alphabet="0123456789", min_size=3, max_size=6))
def test_parse_money_always_refuses_three_or_more_decimals(whole: int, frac: str) -> None:
    with pytest.raises(TooManyDecimals):
        parse_money(f"{whole}.{frac}")


# --- parse_energy --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "wh"),
    [
        ("3.5", 3500),
        ("3", 3000),
        ("0.001", 1),
        ("1.25", 1250),
        ("3.5 kWh", 3500),
        ("3.5kWh", 3500),
        ("3.5 KWH", 3500),
        ("3.5 kwh", 3500),
        (" 2 kWh ", 2000),
        ("10000000000", MAX_WH),
    ],
)
def test_parse_energy_reads_kwh_into_wh(text: str, wh: int) -> None:
    assert parse_energy(text) == wh


@pytest.mark.parametrize(("text", "wh"), [("3,5", 3500), ("0,01", 10), ("2,25 kWh", 2250)])
def test_parse_energy_reads_comma_as_decimal_point(text: str, wh: int) -> None:
    assert parse_energy(text) == wh


@pytest.mark.parametrize("text", ["0.0005", "1.2345", "1,0000", "3.5000 kWh"])
def test_parse_energy_refuses_a_fourth_decimal_instead_of_rounding(text: str) -> None:
    with pytest.raises(TooManyDecimals) as excinfo:
        parse_energy(text)
    assert excinfo.value.code == "too_many_decimals"
    assert excinfo.value.params["decimals"] == 3


@pytest.mark.parametrize("text", ["0", "0.000", "0 kWh"])
def test_parse_energy_refuses_zero(text: str) -> None:
    with pytest.raises(AmountNotPositive):
        parse_energy(text)


def test_parse_energy_accepts_zero_when_allowed() -> None:
    assert parse_energy("0 kWh", allow_zero=True) == 0


@pytest.mark.parametrize("text", ["-1", "-0.5 kWh"])
def test_parse_energy_refuses_negative_amounts(text: str) -> None:
    with pytest.raises(AmountNotPositive):
        parse_energy(text)


@pytest.mark.parametrize("text", ["kWh", "K3.5", "3500 Wh", "3.5 MWh", "1,000,000", "abc"])
def test_parse_energy_refuses_text_that_is_not_a_number(text: str) -> None:
    with pytest.raises(InvalidAmount) as excinfo:
        parse_energy(text)
    assert excinfo.value.code == "invalid_amount"


@pytest.mark.parametrize("text", ["10000000000.001", "99999999999 kWh"])
def test_parse_energy_refuses_amounts_above_the_limit(text: str) -> None:
    with pytest.raises(AmountTooLarge):
        parse_energy(text)


# --- parse_price ---------------------------------------------------------------


@pytest.mark.parametrize("text", ["1.20", "1.2", "K1.20", "K1.20/kWh", "1,20 / kwh", "ZMW 1.20/KWH"])
def test_parse_price_reads_kwacha_per_kwh_into_ngwee_per_kwh(text: str) -> None:
    assert parse_price(text) == 120


@pytest.mark.parametrize(
    ("text", "error"),
    [("0", AmountNotPositive), ("K0/kWh", AmountNotPositive), ("1.205", TooManyDecimals), ("x/kWh", InvalidAmount)],
)
def test_parse_price_follows_the_money_rules(text: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_price(text)


# --- error classes -------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InvalidAmount, "invalid_amount"),
        (AmountNotPositive, "amount_not_positive"),
        (TooManyDecimals, "too_many_decimals"),
        (AmountTooLarge, "amount_too_large"),
    ],
)
def test_amount_errors_share_one_catchable_hierarchy(error: type[InvalidAmount], code: str) -> None:
    assert error.code == code
    assert issubclass(error, InvalidAmount)
    assert issubclass(error, InvalidInput)
    assert issubclass(error, EnerlectraError)
    assert error().message_key == f"error.{code}"


@pytest.mark.parametrize("text", ["1,000", "0,001", "12,500 kWh"])
def test_parse_energy_refuses_a_comma_before_three_digits_as_ambiguous(text: str) -> None:
    # A thousand kWh or one? Refused, never guessed; "1.000" is one kWh.
    with pytest.raises(AmbiguousAmount):
        parse_energy(text)
    assert parse_energy("1.000") == 1000


def test_parse_errors_carry_the_typed_text() -> None:
    with pytest.raises(TooManyDecimals) as excinfo:
        parse_money(" K1,000 ")
    assert excinfo.value.params["text"] == "1,000"


# --- formatting ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("ngwee", "text"),
    [
        (0, "K0.00"),
        (1, "K0.01"),
        (50, "K0.50"),
        (1250, "K12.50"),
        (100_000, "K1,000.00"),
        (123_456, "K1,234.56"),
        (123_456_789_01, "K123,456,789.01"),
        (-1250, "-K12.50"),
        (-5, "-K0.05"),
    ],
)
def test_format_money(ngwee: int, text: str) -> None:
    assert format_money(ngwee) == text


@pytest.mark.parametrize(
    ("wh", "text"),
    [
        (0, "0 kWh"),
        (1, "0.001 kWh"),
        (10, "0.01 kWh"),
        (1000, "1 kWh"),
        (3500, "3.5 kWh"),
        (3050, "3.05 kWh"),
        (1_234_567, "1,234.567 kWh"),
        (-1500, "-1.5 kWh"),
    ],
)
def test_format_energy_drops_trailing_zeros(wh: int, text: str) -> None:
    assert format_energy(wh) == text


@pytest.mark.parametrize(("price", "text"), [(120, "K1.20/kWh"), (5, "K0.05/kWh"), (150_000, "K1,500.00/kWh")])
def test_format_price(price: int, text: str) -> None:
    assert format_price(price) == text


@given(money_ngwee)
def test_money_round_trips_through_format_and_parse(ngwee: int) -> None:
    assert parse_money(without_grouping(format_money(ngwee))) == ngwee


@given(st.integers(min_value=1, max_value=99_999))
def test_money_below_one_thousand_kwacha_round_trips_verbatim(ngwee: int) -> None:
    assert parse_money(format_money(ngwee)) == ngwee


@given(st.integers(min_value=100_000, max_value=MAX_NGWEE))
def test_formatted_money_with_thousands_separator_is_refused_by_the_parser(ngwee: int) -> None:
    # Documented asymmetry: display groups thousands, input refuses separators.
    with pytest.raises(InvalidAmount):
        parse_money(format_money(ngwee))


@given(energy_wh)
def test_energy_round_trips_through_format_and_parse(wh: int) -> None:
    assert parse_energy(without_grouping(format_energy(wh))) == wh


@given(st.integers(min_value=1, max_value=999_999))
def test_energy_below_one_thousand_kwh_round_trips_verbatim(wh: int) -> None:
    assert parse_energy(format_energy(wh)) == wh


def test_zero_energy_round_trips_when_zero_is_allowed() -> None:
    assert parse_energy(format_energy(0), allow_zero=True) == 0


@given(st.integers(min_value=1, max_value=99_999))
def test_price_round_trips_through_format_and_parse(price: int) -> None:
    assert parse_price(format_price(price)) == price


# --- cost_of_energy ------------------------------------------------------------


@pytest.mark.parametrize(
    ("wh", "price", "ngwee"),
    [
        (3500, 120, 420),  # 3.5 kWh at K1.20 = K4.20
        (1000, 120, 120),
        (1, 120, 0),  # 0.12 ngwee rounds down
        (5, 100, 1),  # exactly 0.5 ngwee rounds up
        (4, 125, 1),  # exactly 0.5 ngwee rounds up
        (3, 166, 0),  # 0.498 ngwee rounds down
        (1499, 1, 1),  # 1.499 ngwee rounds down
        (1500, 1, 2),  # 1.5 ngwee rounds up
        (0, 120, 0),
        (3500, 0, 0),
    ],
)
def test_cost_of_energy_rounds_half_up_to_the_ngwee(wh: int, price: int, ngwee: int) -> None:
    assert cost_of_energy(wh, price) == ngwee


@pytest.mark.parametrize(("wh", "price"), [(-1, 120), (1000, -1)])
def test_cost_of_energy_refuses_negative_inputs(wh: int, price: int) -> None:
    with pytest.raises(InvalidAmount) as excinfo:
        cost_of_energy(wh, price)
    assert excinfo.value.code == "invalid_amount"


@given(st.integers(min_value=0, max_value=MAX_WH), st.integers(min_value=0, max_value=10**6))
def test_cost_of_energy_is_the_exact_cost_rounded_half_up(wh: int, price: int) -> None:
    cost = cost_of_energy(wh, price)
    exact = Fraction(wh * price, 1000)
    assert type(cost) is int
    assert cost >= 0
    assert cost == round_half_up(exact)
    assert -Fraction(1, 2) < cost - exact <= Fraction(1, 2)


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=0, max_value=10**6))
def test_cost_of_energy_never_decreases_with_more_energy(wh: int, price: int) -> None:
    assert cost_of_energy(wh + 1, price) >= cost_of_energy(wh, price)


# --- basis_points_rounded_up ----------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "bps", "fee"),
    [
        (50, 100, 1),  # 1% of K0.50 is half a ngwee: the platform still earns one
        (1, 1, 1),  # the smallest positive fee
        (99, 100, 1),
        (199, 100, 2),
        (300, 250, 8),  # 2.5% of K3.00 = 7.5 ngwee
        (10_000, 150, 150),  # exact multiples are unchanged
        (1000, 150, 15),
        (100, 100, 1),
        (777, 10_000, 777),
        (1234, 0, 0),  # no rate, no fee
        (0, 500, 0),  # nothing to charge on
    ],
)
def test_basis_points_rounded_up(amount: int, bps: int, fee: int) -> None:
    assert basis_points_rounded_up(amount, bps) == fee


@pytest.mark.parametrize(("amount", "bps"), [(-1, 100), (100, -1)])
def test_basis_points_rounded_up_refuses_negative_inputs(amount: int, bps: int) -> None:
    with pytest.raises(InvalidAmount):
        basis_points_rounded_up(amount, bps)


@given(st.integers(min_value=0, max_value=MAX_NGWEE), st.integers(min_value=0, max_value=10_000))
def test_basis_points_rounded_up_is_the_next_ngwee_at_or_above_the_exact_fraction(amount: int, bps: int) -> None:
    fee = basis_points_rounded_up(amount, bps)
    exact = Fraction(amount * bps, 10_000)
    assert fee - 1 < exact <= fee
    assert fee <= amount  # a rate of at most 100% never charges more than the amount
    assert (fee == 0) == (amount == 0 or bps == 0), "a fee is never zero when there is a rate and an amount"


# --- split_proportionally ------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "weights", "parts"),
    [
        (100, [1, 3], [25, 75]),
        (10, [1, 1, 1], [4, 3, 3]),  # leftover unit goes to the earliest tie
        (11, [1, 1, 1], [4, 4, 3]),
        (1, [0, 0, 1], [0, 0, 1]),
        (7, [5], [7]),
        (100, [1, 0, 1], [50, 0, 50]),
        (1, [1, 2], [0, 1]),  # largest remainder wins (2/3 beats 1/3)
        (0, [1, 2, 3], [0, 0, 0]),
        (0, [0, 0], [0, 0]),
    ],
)
def test_split_proportionally_examples(total: int, weights: list[int], parts: list[int]) -> None:
    assert split_proportionally(total, weights) == parts


def test_split_proportionally_accepts_any_integer_sequence() -> None:
    assert split_proportionally(9, (1, 2)) == [3, 6]


def test_split_proportionally_of_nothing_over_no_weights_is_empty() -> None:
    assert split_proportionally(0, []) == []


def test_split_proportionally_refuses_a_positive_total_over_zero_weights() -> None:
    with pytest.raises(InvalidAmount):
        split_proportionally(5, [0, 0])


def test_split_proportionally_refuses_a_positive_total_over_no_weights() -> None:
    try:
        parts = split_proportionally(100, [])
    except InvalidAmount:
        return
    pytest.fail(
        f"BUG engine/units.py:127 split_proportionally(100, []) returned {parts!r}: the 100 units vanish "
        "(parts sum to 0, not the total); expected InvalidAmount like split_proportionally(100, [0])"
    )


@pytest.mark.parametrize(("total", "weights"), [(-1, [1]), (10, [1, -1])])
def test_split_proportionally_refuses_negative_inputs(total: int, weights: list[int]) -> None:
    with pytest.raises(InvalidAmount):
        split_proportionally(total, weights)


@given(st.integers(min_value=0, max_value=MAX_NGWEE), positive_weights)
def test_split_proportionally_always_sums_to_the_total(total: int, weights: list[int]) -> None:
    assert sum(split_proportionally(total, weights)) == total


@given(st.integers(min_value=0, max_value=MAX_NGWEE), positive_weights)
def test_split_proportionally_gives_each_part_within_one_of_its_exact_share(total: int, weights: list[int]) -> None:
    parts = split_proportionally(total, weights)
    assert len(parts) == len(weights)
    for part, weight in zip(parts, weights, strict=True):
        share = exact_share(total, weight, weights)
        assert share - 1 < part < share + 1
        assert part >= 0


@given(st.integers(min_value=0, max_value=MAX_NGWEE), positive_weights)
def test_split_proportionally_gives_nothing_to_a_zero_weight(total: int, weights: list[int]) -> None:
    parts = split_proportionally(total, weights)
    assert all(part == 0 for part, weight in zip(parts, weights, strict=True) if weight == 0)


@given(st.integers(min_value=0, max_value=MAX_NGWEE), positive_weights)
def test_split_proportionally_is_deterministic(total: int, weights: list[int]) -> None:
    assert split_proportionally(total, weights) == split_proportionally(total, list(weights))


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=1, max_value=10**6), st.integers(1, 10))
def test_split_proportionally_equal_weights_differ_by_at_most_one(total: int, weight: int, n: int) -> None:
    parts = split_proportionally(total, [weight] * n)
    assert max(parts) - min(parts) <= 1
    assert parts == sorted(parts, reverse=True)  # extra units go to the earliest
