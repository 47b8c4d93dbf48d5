"""Kwacha amounts as the providers write them, held as integer ngwee (never a float)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_AMOUNT = re.compile(r"^(\d{1,12})(?:\.(\d{1,2}))?$")


def parse_amount(value: object) -> int | None:
    """``"19999.99"`` (MTN's string) or ``Decimal("0.01")`` (an Airtel JSON number) -> ngwee.

    None for anything else: negative, more than two decimals, not a number, a float.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value * 100 if 0 <= value < 10**12 else None
    if isinstance(value, Decimal):
        try:
            text = format(value, "f")
        except (InvalidOperation, ValueError):
            return None
        value = text.rstrip("0").rstrip(".") if "." in text else text
    if not isinstance(value, str):
        return None
    match = _AMOUNT.match(value.strip())
    if match is None:
        return None
    kwacha, ngwee = match.group(1), (match.group(2) or "").ljust(2, "0")
    return int(kwacha) * 100 + int(ngwee)


def format_amount(ngwee: int) -> str:
    """12345 -> ``"123.45"``; 500 -> ``"5"`` (whole kwacha without decimals, as providers echo them)."""
    kwacha, rest = divmod(ngwee, 100)
    return str(kwacha) if rest == 0 else f"{kwacha}.{rest:02d}"


def format_signed(ngwee: int) -> str:
    """Statement amounts: always two decimals, a minus for money leaving the account."""
    sign = "-" if ngwee < 0 else ""
    kwacha, rest = divmod(abs(ngwee), 100)
    return f"{sign}{kwacha}.{rest:02d}"
