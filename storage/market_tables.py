"""The market's table specs (see storage.tables; its TABLES lists these too).

A slot price's components and a tariff's periods are JSON kept in TEXT
columns on both backends (JSONB would reorder an object's keys, and an
explanation reads in the order it was written): :func:`components_json` and
:func:`periods_json` write them, and the in-memory backend stores through the
same functions, so every backend reads back the same values.
"""

from __future__ import annotations

import json

from engine.markets.model import (
    FillNotice,
    MarketState,
    MonthlyEnergy,
    Order,
    OrderState,
    Quote,
    Side,
    SlotPrice,
    Tariff,
    TouPeriod,
    Trade,
)
from storage.columns import INTEGER, TEXT, Column, Table


def components_json(components: dict[str, int]) -> str:
    """How a slot price's explanation is stored: compact, in the order it was made."""
    return json.dumps(components, separators=(",", ":"))


def components_of(stored: str) -> dict[str, int]:
    loaded: dict[str, int] = json.loads(stored)
    return loaded


def periods_json(periods: tuple[TouPeriod, ...]) -> str:
    """How a tariff's time-of-use periods are stored: a JSON array of objects, in order."""
    return json.dumps(
        [
            {"name": p.name, "start_minute": p.start_minute, "end_minute": p.end_minute, "factor_bps": p.factor_bps}
            for p in periods
        ],
        separators=(",", ":"),
    )


def periods_of(stored: str) -> tuple[TouPeriod, ...]:
    return tuple(TouPeriod(p["name"], p["start_minute"], p["end_minute"], p["factor_bps"]) for p in json.loads(stored))


MARKET_STATE = Table(
    "market_state",
    [Column("cluster_id", TEXT), Column("next_order_seq", INTEGER), Column("next_trade_seq", INTEGER)],
    MarketState,
)

MARKET_ORDERS = Table(
    "market_orders",
    [
        Column("id", TEXT),
        Column("reference", TEXT),
        Column("cluster_id", TEXT),
        Column("user_id", INTEGER),
        Column("side", TEXT, decode=Side, encode=str),
        Column("price", INTEGER),
        Column("wh", INTEGER),
        Column("remaining_wh", INTEGER),
        Column("slot_start", INTEGER, attr="slot_start_us"),
        Column("good_for_day", INTEGER, decode=bool, encode=int),
        Column("trade_until", INTEGER, attr="trade_until_us"),
        Column("expires_at", INTEGER, attr="expires_at_us"),
        Column("seq", INTEGER),
        Column("state", TEXT, decode=OrderState, encode=str),
        Column("created_at", INTEGER, attr="created_at_us"),
        Column("updated_at", INTEGER, attr="updated_at_us"),
        Column("filled_value", INTEGER),
        Column("fees_ngwee", INTEGER),
        Column("fills", INTEGER),
        Column("reserved", INTEGER),
        Column("reason", TEXT),
    ],
    Order,
)

# What update_order writes; who placed what, where, at what limit and when is fixed.
ORDER_CHANGES = (
    "remaining_wh",
    "state",
    "fills",
    "filled_value",
    "fees_ngwee",
    "reserved",
    "reason",
    "updated_at",
)

MARKET_TRADES = Table(
    "market_trades",
    [
        Column("id", TEXT),
        Column("cluster_id", TEXT),
        Column("seq", INTEGER),
        Column("slot_start", INTEGER, attr="slot_start_us"),
        Column("buy_order_id", TEXT),
        Column("sell_order_id", TEXT),
        Column("buyer_id", INTEGER),
        Column("seller_id", INTEGER),
        Column("taker", TEXT, decode=Side, encode=str),
        Column("price", INTEGER),
        Column("wh", INTEGER),
        Column("buyer_paid_ngwee", INTEGER),
        Column("seller_received_ngwee", INTEGER),
        Column("fee_ngwee", INTEGER),
        Column("at", INTEGER, attr="at_us"),
    ],
    Trade,
)

MARKET_PRICES = Table(
    "market_prices",
    [
        Column("cluster_id", TEXT),
        Column("slot_start", INTEGER, attr="slot_start_us"),
        Column("price", INTEGER),
        Column("components", TEXT, decode=components_of, encode=components_json),
        Column("open", INTEGER),
        Column("high", INTEGER),
        Column("low", INTEGER),
        Column("close", INTEGER),
        Column("volume_wh", INTEGER),
        Column("trades", INTEGER),
    ],
    SlotPrice,
)

MARKET_QUOTES = Table(
    "market_quotes",
    [
        Column("id", TEXT),
        Column("user_id", INTEGER),
        Column("cluster_id", TEXT),
        Column("wh", INTEGER),
        Column("price", INTEGER),
        Column("lifeline_wh", INTEGER),
        Column("lifeline_price", INTEGER),
        Column("cost_ngwee", INTEGER),
        Column("slot_start", INTEGER, attr="slot_start_us"),
        Column("created_at", INTEGER, attr="created_at_us"),
        Column("expires_at", INTEGER, attr="expires_at_us"),
        Column("used_by", TEXT),
    ],
    Quote,
)

MARKET_TARIFFS = Table(
    "market_tariffs",
    [
        Column("cluster_id", TEXT),
        Column("effective_from", INTEGER, attr="effective_from_us"),
        Column("base", INTEGER),
        Column("floor", INTEGER),
        Column("cap", INTEGER),
        Column("periods", TEXT, decode=periods_of, encode=periods_json),
        Column("lifeline_wh", INTEGER),
        Column("source", TEXT),
        Column("source_date", TEXT),
    ],
    Tariff,
)

MARKET_MONTHLY = Table(
    "market_monthly",
    [
        Column("user_id", INTEGER),
        Column("month", INTEGER),
        Column("wh", INTEGER),
        Column("ngwee", INTEGER),
        Column("lifeline_wh", INTEGER),
    ],
    MonthlyEnergy,
)

MARKET_NOTICES = Table(
    "market_notices",
    [
        Column("user_id", INTEGER),
        Column("cluster_id", TEXT),
        Column("slot_start", INTEGER, attr="slot_start_us"),
        Column("fills", INTEGER),
        Column("told", INTEGER),
        Column("bought_wh", INTEGER),
        Column("sold_wh", INTEGER),
        Column("paid_ngwee", INTEGER),
        Column("received_ngwee", INTEGER),
    ],
    FillNotice,
)

MARKET_TABLES = (
    MARKET_STATE,
    MARKET_ORDERS,
    MARKET_TRADES,
    MARKET_PRICES,
    MARKET_QUOTES,
    MARKET_TARIFFS,
    MARKET_MONTHLY,
    MARKET_NOTICES,
)
