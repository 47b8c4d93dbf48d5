"""Shapes every resource shares: money, prices, time, paging, errors.

Money is integer ngwee with its currency, energy integer Wh, a price integer
ngwee per kWh: never a float. Times are RFC 3339 in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from engine.kernel.units import MAX_NGWEE, MAX_WH


class Body(BaseModel):
    """A request body: exactly the fields described, each of exactly its JSON type (no coercion)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Query(BaseModel):
    """Query parameters: text by nature, so numbers are parsed from it; unknown ones are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class View(BaseModel):
    """A response body."""

    model_config = ConfigDict(frozen=True)


Pin = Annotated[str, Field(pattern=r"^[0-9]{4}$", description="the user's 4-digit PIN", examples=["5173"])]
PhoneText = Annotated[
    str,
    Field(
        min_length=9,
        max_length=20,
        pattern=r"^[0-9+()\-. ]+$",
        description="a Zambian mobile number as people write it: 0977123456, 260977123456 or +260 97 712 3456",
        examples=["+260977123456"],
    ),
]


def _whole(value: object) -> object:
    """JSON has one number type: ``2000.0`` is the integer 2000 (as JSON Schema says); ``1.5`` is no integer."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Integers in JSON's sense, otherwise strict: no strings, no booleans, no fractions. (The bounds come
# before the validator, so they stay plain JSON Schema: minimum and maximum.)
WattHours = Annotated[
    int, Field(ge=1, le=MAX_WH, description="energy in Wh (1 kWh = 1000 Wh)"), BeforeValidator(_whole)
]
PricePerKwh = Annotated[int, Field(ge=1, le=1_000_000), BeforeValidator(_whole)]
Ngwee = Annotated[
    int, Field(ge=1, le=MAX_NGWEE, description="an amount in ngwee (K1 = 100 ngwee)"), BeforeValidator(_whole)
]
Language = Literal["en", "ny", "bem"]


class Money(View):
    ngwee: int = Field(description="an amount in ngwee (K1 = 100 ngwee); negative when paid out")
    currency: Literal["ZMW"] = "ZMW"

    @classmethod
    def of(cls, ngwee: int) -> Money:
        return cls(ngwee=ngwee)


class Price(View):
    ngwee_per_kwh: int = Field(ge=0, le=MAX_NGWEE)
    currency: Literal["ZMW"] = "ZMW"

    @classmethod
    def of(cls, ngwee_per_kwh: int) -> Price:
        return cls(ngwee_per_kwh=ngwee_per_kwh)


def at(us: int) -> datetime:
    """Microseconds since the epoch as an aware UTC time."""
    return datetime.fromtimestamp(us / 1_000_000, UTC)


class PageMeta(View):
    next_cursor: str | None = Field(description="pass as `cursor` for the next (older) page; null on the last page")
    limit: int


class ErrorDetail(View):
    code: str = Field(
        description="stable, upper case (`INSUFFICIENT_FUNDS`): what a client acts on", examples=["WRONG_PIN"]
    )
    message: str = Field(description="for people reading logs; may change")
    details: dict[str, int | str | bool] = Field(
        default_factory=dict, description="named values of this error (e.g. `attempts_left`, `retry_after_s`)"
    )


class ErrorEnvelope(View):
    success: Literal[False] = False
    error: ErrorDetail
