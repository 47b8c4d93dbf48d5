"""The market's platform-wide rules: delivery slots, quotes, the order book's caps and fee.

A cluster's own price rules (base, floor, cap, time of use, lifeline) are its
tariff, set with ``enerlectra prices tariff-set``, not here. Defaults come from a
``MarketConfig()``, written in the unit their variable uses: a default is
declared once, in the engine.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, field_validator, model_validator

from engine.markets.config import MarketConfig
from ussd_server.settings.fields import KWH, setting

MARKET = MarketConfig()
MINUTE_S = 60
HOUR_MINUTES = 60


class MarketSettings(BaseModel):
    """The settings of the market (a part of ``Settings``; built through it, never alone)."""

    market_slot_minutes: int = setting(
        "MARKET_SLOT_MINUTES",
        MARKET.slot_s // MINUTE_S,
        "length of a delivery slot in minutes (5 to 60, dividing an hour): each slot has one posted price,"
        " and a market order is for one slot or the rest of the day",
        ge=5,
        le=60,
    )
    market_gate_closure_minutes: int = setting(
        "MARKET_GATE_CLOSURE_MINUTES",
        MARKET.gate_closure_s // MINUTE_S,
        "orders for a slot are matched until this many minutes before it starts (under four slots)",
        ge=0,
        le=239,
    )
    market_quote_ttl_s: int = setting(
        "MARKET_QUOTE_TTL_S",
        MARKET.quote_ttl_s,
        "seconds a price quoted for a cluster purchase holds; after that the buyer is shown a new one,"
        " never charged it silently",
        ge=10,
        le=600,
    )
    market_max_open_orders: int = setting(
        "MARKET_MAX_OPEN_ORDERS",
        MARKET.max_open_orders_per_user,
        "open (resting) market orders one user may have at a time, over all clusters",
        ge=1,
        le=100,
    )
    market_min_order_wh: Annotated[int, KWH] = setting(
        "MARKET_MIN_ORDER_KWH", MARKET.min_order_wh, "the smallest market order, in kWh", ge=1
    )
    market_fee_bps: int = setting(
        "MARKET_FEE_BPS",
        MARKET.fee_bps,
        "platform fee on market trades in basis points, paid by the buyer on top of the price, rounded up to the ngwee",
        ge=0,
        le=2000,
    )

    @field_validator("market_slot_minutes")
    @classmethod
    def _slots_divide_an_hour(cls, minutes: int) -> int:
        if HOUR_MINUTES % minutes:
            raise ValueError("must divide an hour: 5, 6, 10, 12, 15, 20, 30 or 60")
        return minutes

    @model_validator(mode="after")
    def _gate_closes_within_four_slots(self) -> MarketSettings:
        if self.market_gate_closure_minutes >= 4 * self.market_slot_minutes:
            raise ValueError("MARKET_GATE_CLOSURE_MINUTES must be under four slots (MARKET_SLOT_MINUTES x 4)")
        return self

    def market_config(self) -> MarketConfig:
        """The market's settings, in the engine's units (seconds, Wh)."""
        return MarketConfig(
            slot_s=self.market_slot_minutes * MINUTE_S,
            gate_closure_s=self.market_gate_closure_minutes * MINUTE_S,
            quote_ttl_s=self.market_quote_ttl_s,
            max_open_orders_per_user=self.market_max_open_orders,
            min_order_wh=self.market_min_order_wh,
            fee_bps=self.market_fee_bps,
        )
