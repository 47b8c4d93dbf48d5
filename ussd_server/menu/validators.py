"""Input validators named in menu files: turn what was typed into a value, or say why not."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from engine.errors import AmountTooLarge, EnerlectraError, InvalidAmount, PinBusy, TooManyDecimals, WeakPin
from engine.pins import validate_pin
from engine.units import parse_energy, parse_money, parse_price
from engine.users import clean_name
from ussd_server.menu.context import Hop, PinRateLimited
from ussd_server.menu.schema import Validator
from ussd_server.phones import parse_zambian_mobile

Value = str | int


class Invalid(Exception):
    """Typed input that a screen refuses; ``key`` is the one-line reason's catalog key."""

    def __init__(self, key: str, *, counts: bool = True, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.counts = counts  # False when the fault is ours (busy): it must not end their session
        self.params = params


async def _name(raw: str, spec: Validator, hop: Hop) -> Value:
    try:
        return clean_name(raw)
    except EnerlectraError:
        raise Invalid("err.name") from None


async def _text(raw: str, spec: Validator, hop: Hop) -> Value:
    limit = spec.max_length or 40
    if not raw.strip() or len(raw) > limit:
        raise Invalid("err.text_length", max=limit)
    return raw.strip()


async def _digits(raw: str, spec: Validator, hop: Hop) -> Value:
    if not raw.isascii() or not raw.isdigit() or (spec.max_length and len(raw) > spec.max_length):
        raise Invalid("err.digits")
    return raw


def _ranged(value: int, spec: Validator, parse: Callable[[str], int], key: str) -> int:
    low = parse(spec.min) if spec.min else None
    high = parse(spec.max) if spec.max else None
    if (low is not None and value < low) or (high is not None and value > high):
        raise Invalid(key, min=low or 0, max=high or 0)
    return value


async def _amount(raw: str, spec: Validator, hop: Hop) -> Value:
    try:
        value = parse_money(raw)
    except TooManyDecimals:
        raise Invalid("err.money_decimals") from None
    except (AmountTooLarge, InvalidAmount):
        raise Invalid("err.amount") from None
    return _ranged(value, spec, parse_money, "err.amount_range")


async def _kwh(raw: str, spec: Validator, hop: Hop) -> Value:
    try:
        value = parse_energy(raw)
    except TooManyDecimals:
        raise Invalid("err.kwh_decimals") from None
    except (AmountTooLarge, InvalidAmount):
        raise Invalid("err.kwh") from None
    return _ranged(value, spec, parse_energy, "err.kwh_range")


async def _phone(raw: str, spec: Validator, hop: Hop) -> Value:
    if not raw:
        raise Invalid("err.phone_empty")
    try:
        return parse_zambian_mobile(raw)
    except EnerlectraError:
        raise Invalid("err.phone") from None


async def _new_pin(raw: str, spec: Validator, hop: Hop) -> Value:
    """A PIN being set is stored only as its final salted hash, never as typed."""
    try:
        validate_pin(raw)
    except WeakPin:
        raise Invalid("err.weak_pin") from None
    except EnerlectraError:
        raise Invalid("err.pin_format") from None
    try:
        return await hop.pin_check(
            lambda retry, budget: hop.platform.users.hash_new_pin(raw, retry=retry, budget_s=budget)
        )
    except PinBusy:
        raise Invalid("err.pin_busy", counts=False) from None
    except PinRateLimited as limited:
        raise Invalid("err.pin_rate", counts=False, seconds=limited.seconds) from None


async def _trade_price(raw: str, spec: Validator, hop: Hop) -> Value:
    """A price is always typed as a price: no number on this screen means anything else.

    (It used to offer "1" for the market price and "2" for a gift, so someone
    typing 2 to ask K2.00 gave their energy away. A gift is its own menu choice.)
    """
    try:
        return _ranged(parse_price(raw), Validator(type="trade_price", max="100"), parse_money, "err.price_range")
    except InvalidAmount:
        raise Invalid("err.price") from None


VALIDATORS: dict[str, Callable[[str, Validator, Hop], Awaitable[Value]]] = {
    "name": _name,
    "text": _text,
    "digits": _digits,
    "amount": _amount,
    "kwh": _kwh,
    "phone": _phone,
    "new_pin": _new_pin,
    "trade_price": _trade_price,
}


def check_pin_format(raw: str) -> str:
    if len(raw) != 4 or not raw.isascii() or not raw.isdigit():
        raise Invalid("err.pin_format")
    return raw
