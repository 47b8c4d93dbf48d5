"""The market: what a request for prices, a quote, a purchase, an order or a tariff carries.

Energy in Wh and prices in ngwee per kWh, as everywhere in this API; times are
RFC 3339 with their offset (``2026-01-01T10:00:00Z``, ``2026-01-01T12:00:00+02:00``).
The engine checks each value against the cluster's rules (``PRICE_OUT_OF_BAND``
names the band, ``INVALID_SLOT`` a slot that is not open, ``INVALID_TARIFF`` the
field it refuses), so the ranges live in one place.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, BeforeValidator, Field
from pydantic.json_schema import SkipJsonSchema

from ussd_server.api.models.common import Body, Pin, PricePerKwh, Query, WattHours
from ussd_server.api.models.energy import CLUSTER_ID_PATTERN

QUOTE_ID_PATTERN = r"^q-[0-9a-f]{16}$"  # engine.markets.prices: "q-" and 16 hex
ORDER_ID_PATTERN = r"^[A-Za-z0-9:_-]{1,100}$"  # an order's id is the operation that placed it
SideText = Literal["buy", "sell"]
OrderStateText = Literal["open", "partial", "filled", "cancelled", "expired", "rejected"]
BucketText = Literal["slot", "hour", "day"]


def _whole(value: object) -> object:
    """``2000.0`` is the integer 2000 in JSON; ``1.5`` is no integer (as ``common.Ngwee`` reads it)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


ClockTime = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", examples=["18:00"])]


class SeriesQuery(Query):
    from_: AwareDatetime | None = Field(
        default=None, alias="from", description="the first slot (default: a day before `to`)"
    )
    to: AwareDatetime | None = Field(default=None, description="the last slot (default: now)")
    bucket: BucketText = Field(
        default="slot", description="one row per delivery slot, or slots folded into hourly or daily candles (UTC)"
    )


class BookQuery(Query):
    levels: int = Field(default=5, ge=1, le=20, description="price levels on each side")


class TradesQuery(Query):
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(
        default=None, max_length=40, description="`meta.next_cursor` of the previous page: older trades"
    )


class QuoteRequest(Body):
    wh: WattHours


class BuyQuoted(Body):
    quote_id: Annotated[str, Field(pattern=QUOTE_ID_PATTERN, description="from `POST .../quotes`")]
    pin: Pin


class PlaceOrder(Body):
    cluster_id: Annotated[str, Field(pattern=CLUSTER_ID_PATTERN, examples=["lsk-kabulonga-micro"])]
    side: SideText
    wh: WattHours
    price_ngwee_per_kwh: PricePerKwh = Field(
        description="the limit: the most a buyer pays, the least a seller receives; within the cluster's floor and cap"
    )
    slot: AwareDatetime | SkipJsonSchema[None] = Field(
        default=None,
        description="the delivery slot's start (today's, not yet past its gate closure); left out: the next open one",
    )
    good_for_day: bool = Field(
        default=False, description="matched in any of today's slots from the next open one on, until local midnight"
    )
    pin: Pin


class CancelOrder(Body):
    pin: Pin


class MyOrdersQuery(Query):
    state: Literal["active", "all"] = Field(default="active", description="`active`: open and partly filled only")
    limit: int = Field(default=20, ge=1, le=50)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class MyTradesQuery(Query):
    limit: int = Field(default=20, ge=1, le=100)


class TouPeriodBody(Body):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,19}$", examples=["peak"])]
    start: ClockTime = Field(description="local time (CAT) it starts")
    end: ClockTime = Field(description="local time it ends; before `start` when it runs past midnight")
    factor_bps: Annotated[int, Field(ge=1_000, le=50_000, examples=[13_000]), BeforeValidator(_whole)] = Field(
        description="the base price times this / 10,000 (13,000: 30% dearer)"
    )


class SetTariff(Body):
    base_ngwee_per_kwh: PricePerKwh
    floor_ngwee_per_kwh: PricePerKwh = Field(description="the least a price may be (e.g. a buy-back rate)")
    cap_ngwee_per_kwh: PricePerKwh
    lifeline_wh: Annotated[int, Field(ge=0, le=10_000_000), BeforeValidator(_whole)] = Field(
        description="energy a household buys each month at the base price (or less), never surge-priced"
    )
    periods: list[TouPeriodBody] = Field(default_factory=list, max_length=8)
    source: Annotated[str, Field(min_length=3, max_length=200, examples=["ERB decision of 2025-10-10"])] = Field(
        description="where the figures come from, shown by every price explanation"
    )
    source_date: date = Field(description="the source's date", examples=["2025-10-10"])
    effective_from: AwareDatetime | SkipJsonSchema[None] = Field(
        default=None, description="when it takes effect (default: now); earlier slots keep their prices"
    )


def minute_of(text: str) -> int:
    """``18:30`` -> 1110 (minutes after local midnight)."""
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def clock_time(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"
