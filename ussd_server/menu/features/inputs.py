"""Typed quantities any feature's input screen may ask for: text, digits, money, kWh, a phone number.

Validators turn what was typed into the value stored, or raise ``Invalid``
with the catalog key of the one-line reason. Unlike actions, these are a
shared vocabulary: the lint does not require every one to be used.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.kernel.errors import AmountTooLarge, EnerlectraError, InvalidAmount, TooManyDecimals
from engine.kernel.units import parse_energy, parse_money
from ussd_server.menu.context import Hop
from ussd_server.menu.registry import Feature, Invalid, Value
from ussd_server.menu.schema import Validator
from ussd_server.phones import parse_zambian_mobile


def ranged(value: int, spec: Validator, parse: Callable[[str], int], key: str) -> int:
    """``value`` if within the screen's ``min``/``max`` (written as typed, parsed by ``parse``)."""
    low = parse(spec.min) if spec.min else None
    high = parse(spec.max) if spec.max else None
    if (low is not None and value < low) or (high is not None and value > high):
        raise Invalid(key, min=low or 0, max=high or 0)
    return value


async def text(raw: str, spec: Validator, hop: Hop) -> Value:
    limit = spec.max_length or 40
    if not raw.strip() or len(raw) > limit:
        raise Invalid("err.text_length", max=limit)
    return raw.strip()


async def digits(raw: str, spec: Validator, hop: Hop) -> Value:
    if not raw.isascii() or not raw.isdigit() or (spec.max_length and len(raw) > spec.max_length):
        raise Invalid("err.digits")
    return raw


async def amount(raw: str, spec: Validator, hop: Hop) -> Value:
    try:
        value = parse_money(raw)
    except TooManyDecimals:
        raise Invalid("err.money_decimals") from None
    except (AmountTooLarge, InvalidAmount):
        raise Invalid("err.amount") from None
    return ranged(value, spec, parse_money, "err.amount_range")


async def kwh(raw: str, spec: Validator, hop: Hop) -> Value:
    try:
        value = parse_energy(raw)
    except TooManyDecimals:
        raise Invalid("err.kwh_decimals") from None
    except (AmountTooLarge, InvalidAmount):
        raise Invalid("err.kwh") from None
    return ranged(value, spec, parse_energy, "err.kwh_range")


async def phone(raw: str, spec: Validator, hop: Hop) -> Value:
    if not raw:
        raise Invalid("err.phone_empty")
    try:
        return parse_zambian_mobile(raw)
    except EnerlectraError:
        raise Invalid("err.phone") from None


FEATURE = Feature(
    name="inputs",
    validators={"text": text, "digits": digits, "amount": amount, "kwh": kwh, "phone": phone},
)
