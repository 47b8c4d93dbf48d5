"""Money, energy and prices as integers: parse, format and convert.

Units (never floats):
- money: integer **ngwee** (K1 = 100 ngwee), shown as ``K12.50``;
- energy: integer **Wh**, shown in kWh as ``3.5 kWh``;
- price: integer **ngwee per kWh**, shown as ``K1.20/kWh``.

Parsing rules (what a person types on a phone or a CLI):
- ``12``, ``12.5``, ``12.50``, ``K12.50``, ``ZMW 12.50`` are money; a comma is
  read as the decimal point (``12,50`` == ``12.50``) because many phones offer
  only one of the two.
- Thousands separators are refused, never guessed: money ``1,000`` has too
  many decimals, and energy ``1,000`` (a thousand kWh, or one?) is refused as
  ambiguous; ``1.000`` is one kWh.
  Formatted amounts (``K1,234.56``) are for display, not for typing back.
- Only ASCII digits count; other scripts' digits are refused.
- More decimals than the unit holds (money: 2, energy: 3) are refused rather
  than rounded, so what is charged is exactly what was typed.
- Energy accepts an optional ``kWh`` suffix; ``3.5`` means 3.5 kWh = 3500 Wh.

Conversions round explicitly: ``cost_of_energy`` rounds half up to the ngwee,
and ``basis_points_rounded_up`` rounds fees up to the next ngwee (a fee at a
positive rate on a positive cost is never zero). The ledger then moves exactly
that integer between two accounts, so rounding decides a split and can never
create or destroy money or energy. Shares of a total are divided with
:func:`split_proportionally`, which always sums exactly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from engine.kernel.errors import AmbiguousAmount, AmountNotPositive, AmountTooLarge, InvalidAmount, TooManyDecimals

NGWEE_PER_KWACHA = 100
WH_PER_KWH = 1000
# Far above any real wallet (K10 billion / 10 GWh) yet far below BIGINT's limit,
# so sums over millions of rows cannot overflow a 64-bit column.
MAX_NGWEE = 1_000_000_000_000
MAX_WH = 10_000_000_000_000

_NUMBER = re.compile(r"^(?P<int>[0-9]+)(?:(?P<sep>[.,])(?P<frac>[0-9]*))?$")
_MAX_DIGITS = 15
_MONEY_PREFIX = re.compile(r"^(?:zmw|zk|k)\s*", re.IGNORECASE)
_ENERGY_SUFFIX = re.compile(r"\s*kwh$", re.IGNORECASE)


def _parse_scaled(text: str, decimals: int, *, allow_zero: bool, limit: int) -> int:
    match = _NUMBER.match(text)
    if match is None:
        if text.startswith("-"):
            raise AmountNotPositive("amount must be positive", text=text)
        raise InvalidAmount("not a number", text=text)
    frac = match.group("frac") or ""
    if len(match.group("int")) > _MAX_DIGITS:
        raise AmountTooLarge("amount too large", text=text)
    if decimals >= 3 and match.group("sep") == "," and len(frac) == 3:
        # "1,000" is a thousand to some and one to others: refuse rather than guess.
        raise AmbiguousAmount("ambiguous comma: use a point for decimals", text=text)
    if len(frac) > decimals:
        raise TooManyDecimals("too many decimals", text=text, decimals=decimals)
    value: int = int(match.group("int")) * 10**decimals + int(frac.ljust(decimals, "0") or "0")
    if value == 0 and not allow_zero:
        raise AmountNotPositive("amount must be positive", text=text)
    if value > limit:
        raise AmountTooLarge("amount too large", text=text)
    return value


def parse_money(text: str, *, allow_zero: bool = False) -> int:
    """Parse a Kwacha amount typed by a person into ngwee."""
    cleaned = _MONEY_PREFIX.sub("", text.strip())
    return _parse_scaled(cleaned, 2, allow_zero=allow_zero, limit=MAX_NGWEE)


def parse_energy(text: str, *, allow_zero: bool = False) -> int:
    """Parse a kWh amount typed by a person into Wh."""
    cleaned = _ENERGY_SUFFIX.sub("", text.strip())
    return _parse_scaled(cleaned, 3, allow_zero=allow_zero, limit=MAX_WH)


def parse_price(text: str) -> int:
    """Parse a price in Kwacha per kWh (``1.20``, ``K1.20``) into ngwee per kWh."""
    cleaned = re.sub(r"\s*/\s*kwh$", "", text.strip(), flags=re.IGNORECASE)
    return parse_money(cleaned)


def _group(digits: int) -> str:
    return f"{digits:,}"


def format_money(ngwee: int) -> str:
    """``1250`` -> ``K12.50``; ``123456`` -> ``K1,234.56``; negatives get a leading minus."""
    sign = "-" if ngwee < 0 else ""
    whole, part = divmod(abs(ngwee), NGWEE_PER_KWACHA)
    return f"{sign}K{_group(whole)}.{part:02d}"


def format_energy(wh: int) -> str:
    """``3500`` -> ``3.5 kWh``; ``1`` -> ``0.001 kWh``; trailing zeros dropped."""
    sign = "-" if wh < 0 else ""
    whole, part = divmod(abs(wh), WH_PER_KWH)
    frac = f"{part:03d}".rstrip("0")
    return f"{sign}{_group(whole)}{'.' + frac if frac else ''} kWh"


def format_price(ngwee_per_kwh: int) -> str:
    """``120`` -> ``K1.20/kWh``."""
    return f"{format_money(ngwee_per_kwh)}/kWh"


def cost_of_energy(wh: int, price_ngwee_per_kwh: int) -> int:
    """Ngwee to pay for ``wh`` at a price per kWh, rounded half up to the ngwee."""
    if wh < 0 or price_ngwee_per_kwh < 0:
        raise InvalidAmount("energy and price must not be negative")
    return (wh * price_ngwee_per_kwh + WH_PER_KWH // 2) // WH_PER_KWH


def basis_points_rounded_up(amount: int, bps: int) -> int:
    """``amount * bps / 10_000`` rounded up to the next whole unit: how platform fees are charged.

    Rounding up means a fee is never zero when both the rate and the amount
    are positive (1% of K0.50 is 1 ngwee, not 0), so small trades cannot slip
    past the fee; it exceeds the exact share by less than one ngwee.
    """
    if amount < 0 or bps < 0:
        raise InvalidAmount("amount and rate must not be negative")
    return -(-amount * bps // 10_000)


def split_proportionally(total: int, weights: Sequence[int]) -> list[int]:
    """Divide ``total`` in proportion to ``weights``; the parts always sum to ``total``.

    Largest-remainder method: everyone gets the floor of their exact share, and
    the leftover units go one each to the largest remainders (ties to the
    earliest weight), so no unit is created or lost.
    """
    if total < 0 or any(w < 0 for w in weights):
        raise InvalidAmount("total and weights must not be negative")
    if total and not weights:
        raise InvalidAmount("cannot split a positive total over no one")
    weight_sum = sum(weights)
    if weight_sum == 0:
        if total and weights:
            raise InvalidAmount("cannot split a positive total over zero weights")
        return [0 for _ in weights]
    floors = [total * w // weight_sum for w in weights]
    remainders = [total * w % weight_sum for w in weights]
    leftover = total - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:leftover]:
        floors[i] += 1
    return floors
