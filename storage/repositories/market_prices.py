"""A cluster's price history, quotes, tariffs, monthly energy and fill notices, written once for SQLite and PostgreSQL.

The half of engine.markets.ports that is not the order book;
:mod:`storage.repositories.markets` composes it with orders and trades into
one reader and one writer. Counters (a slot's OHLC and volume, a month's
energy, a notice's fills) are added to in the statement that writes them,
never read, changed and written back, so they stay right under any isolation.
"""

from __future__ import annotations

from engine.markets.model import FillNotice, MonthlyEnergy, Quote, SlotPrice, Tariff
from storage.dialect import Executor, sql
from storage.market_tables import MARKET_NOTICES, MARKET_PRICES, MARKET_QUOTES, MARKET_TARIFFS, components_json

_PRICE = sql(f"SELECT {MARKET_PRICES.select} FROM market_prices WHERE cluster_id = $1 AND slot_start = $2")
_LATEST_PRICE = sql(
    f"SELECT {MARKET_PRICES.select} FROM market_prices WHERE cluster_id = $1 AND slot_start <= $2 "
    "ORDER BY slot_start DESC LIMIT 1"
)
_PRICE_SERIES = sql(
    f"SELECT {MARKET_PRICES.select} FROM market_prices WHERE cluster_id = $1 AND slot_start >= $2 "
    "AND slot_start < $3 ORDER BY slot_start LIMIT $4"
)
# The posted price is the slot's open, high, low and close until it trades.
_INSERT_PRICE = sql(
    "INSERT INTO market_prices (cluster_id, slot_start, price, components, open, high, low, close, volume_wh, trades) "
    "VALUES ($1, $2, $3, $4, $3, $3, $3, $3, 0, 0) ON CONFLICT (cluster_id, slot_start) DO NOTHING"
)
# $3 the trade's price, $4 its Wh. The first trade replaces the posted price in the
# OHLC (the candle is what traded); every one moves the close and adds to the volume.
_RECORD_TRADE = sql(
    "UPDATE market_prices SET "
    "open = CASE WHEN trades = 0 THEN $3::bigint ELSE open END, "
    "high = CASE WHEN trades = 0 OR $3::bigint > high THEN $3::bigint ELSE high END, "
    "low = CASE WHEN trades = 0 OR $3::bigint < low THEN $3::bigint ELSE low END, "
    "close = $3::bigint, volume_wh = volume_wh + $4::bigint, trades = trades + 1 "
    "WHERE cluster_id = $1 AND slot_start = $2"
)

_QUOTE = sql(f"SELECT {MARKET_QUOTES.select} FROM market_quotes WHERE id = $1")
_INSERT_QUOTE = sql(MARKET_QUOTES.insert)
# Down market_quotes_expiry; a quote paid for goes too (the purchase keeps its own record).
_FORGET_QUOTES = sql(
    "DELETE FROM market_quotes WHERE id IN "
    "(SELECT id FROM market_quotes WHERE expires_at < $1 ORDER BY expires_at, id LIMIT $2)"
)
# Paid by this operation: the first time, or again (a retried purchase); never by another.
_USE_QUOTE = sql("UPDATE market_quotes SET used_by = $2 WHERE id = $1 AND (used_by = '' OR used_by = $2)")

_TARIFF_AT = sql(
    f"SELECT {MARKET_TARIFFS.select} FROM market_tariffs WHERE cluster_id = $1 AND effective_from <= $2 "
    "ORDER BY effective_from DESC LIMIT 1"
)
_TARIFFS = sql(f"SELECT {MARKET_TARIFFS.select} FROM market_tariffs WHERE cluster_id = $1 ORDER BY effective_from")
_INSERT_TARIFF = sql(f"{MARKET_TARIFFS.insert} ON CONFLICT (cluster_id, effective_from) DO NOTHING")

_MONTHLY = sql("SELECT wh, ngwee, lifeline_wh FROM market_monthly WHERE user_id = $1 AND month = $2")
_ADD_MONTHLY = sql(
    "INSERT INTO market_monthly (user_id, month, wh, ngwee, lifeline_wh) VALUES ($1, $2, $3, $4, $5) "
    "ON CONFLICT (user_id, month) DO UPDATE SET wh = market_monthly.wh + excluded.wh, "
    "ngwee = market_monthly.ngwee + excluded.ngwee, lifeline_wh = market_monthly.lifeline_wh + excluded.lifeline_wh"
)

# The first fill makes the notice; each one after adds to it. Returns the notice after.
_NOTE_FILL = sql(
    "INSERT INTO market_notices (user_id, cluster_id, slot_start, fills, told, bought_wh, sold_wh, paid_ngwee, "
    "received_ngwee) VALUES ($1, $2, $3, 1, 0, $4, $5, $6, $7) "
    "ON CONFLICT (user_id, cluster_id, slot_start) DO UPDATE SET fills = market_notices.fills + 1, "
    "bought_wh = market_notices.bought_wh + excluded.bought_wh, sold_wh = market_notices.sold_wh + excluded.sold_wh, "
    "paid_ngwee = market_notices.paid_ngwee + excluded.paid_ngwee, "
    "received_ngwee = market_notices.received_ngwee + excluded.received_ngwee "
    f"RETURNING {MARKET_NOTICES.select}"
)
_MARK_TOLD = sql("UPDATE market_notices SET told = $4 WHERE user_id = $1 AND cluster_id = $2 AND slot_start = $3")
# Down market_notices_untold (its predicate repeated, so both databases read it).
_TO_FOLD = sql(
    f"SELECT {MARKET_NOTICES.select} FROM market_notices WHERE cluster_id = $1 AND slot_start < $2 "
    "AND fills > told ORDER BY slot_start, user_id LIMIT $3"
)


class PriceReads:
    """engine.markets.ports.MarketReader's history, quotes, tariffs and monthly energy over one executor."""

    def __init__(self, db: Executor) -> None:
        self._db = db

    async def slot_price(self, cluster_id: str, slot_start_us: int) -> SlotPrice | None:
        row = await self._db.fetch_one(_PRICE, cluster_id, slot_start_us)
        return MARKET_PRICES.record(row) if row is not None else None

    async def latest_slot_price(self, cluster_id: str, *, at_or_before_us: int) -> SlotPrice | None:
        row = await self._db.fetch_one(_LATEST_PRICE, cluster_id, at_or_before_us)
        return MARKET_PRICES.record(row) if row is not None else None

    async def price_series(self, cluster_id: str, *, from_us: int, to_us: int, limit: int = 2000) -> list[SlotPrice]:
        rows = await self._db.fetch(_PRICE_SERIES, cluster_id, from_us, to_us, max(limit, 0))
        return [MARKET_PRICES.record(r) for r in rows]

    async def quote_by_id(self, quote_id: str) -> Quote | None:
        row = await self._db.fetch_one(_QUOTE, quote_id)
        return MARKET_QUOTES.record(row) if row is not None else None

    async def tariff_for(self, cluster_id: str, *, at_us: int) -> Tariff | None:
        row = await self._db.fetch_one(_TARIFF_AT, cluster_id, at_us)
        return MARKET_TARIFFS.record(row) if row is not None else None

    async def tariffs(self, cluster_id: str) -> list[Tariff]:
        return [MARKET_TARIFFS.record(r) for r in await self._db.fetch(_TARIFFS, cluster_id)]

    async def monthly_energy(self, user_id: int, month: int) -> MonthlyEnergy:
        row = await self._db.fetch_one(_MONTHLY, user_id, month)
        if row is None:
            return MonthlyEnergy(user_id, month)
        wh, ngwee, lifeline_wh = row
        return MonthlyEnergy(user_id, month, int(wh), int(ngwee), int(lifeline_wh))


class PriceWrites(PriceReads):
    """engine.markets.ports.MarketWriter's history, quotes, tariffs, monthly energy and notices in one transaction."""

    async def insert_slot_price(self, price: SlotPrice) -> bool:
        p = price
        inserted = await self._db.execute(
            _INSERT_PRICE, p.cluster_id, p.slot_start_us, p.price, components_json(p.components)
        )
        return inserted == 1

    async def record_slot_trade(self, cluster_id: str, slot_start_us: int, *, price: int, wh: int) -> None:
        await self._db.execute(_RECORD_TRADE, cluster_id, slot_start_us, price, wh)

    async def insert_quote(self, quote: Quote) -> None:
        await self._db.execute(_INSERT_QUOTE, *MARKET_QUOTES.values(quote))

    async def forget_quotes(self, *, expired_before_us: int, limit: int) -> int:
        if limit <= 0:
            return 0
        return await self._db.execute(_FORGET_QUOTES, expired_before_us, limit)

    async def use_quote(self, quote_id: str, operation_id: str) -> bool:
        return await self._db.execute(_USE_QUOTE, quote_id, operation_id) == 1

    async def insert_tariff(self, tariff: Tariff) -> bool:
        return await self._db.execute(_INSERT_TARIFF, *MARKET_TARIFFS.values(tariff)) == 1

    async def add_monthly_energy(self, user_id: int, month: int, *, wh: int, ngwee: int, lifeline_wh: int) -> None:
        await self._db.execute(_ADD_MONTHLY, user_id, month, wh, ngwee, lifeline_wh)

    async def note_fill(
        self,
        user_id: int,
        cluster_id: str,
        slot_start_us: int,
        *,
        bought_wh: int,
        sold_wh: int,
        paid_ngwee: int,
        received_ngwee: int,
    ) -> FillNotice:
        row = await self._db.fetch_one(
            _NOTE_FILL, user_id, cluster_id, slot_start_us, bought_wh, sold_wh, paid_ngwee, received_ngwee
        )
        assert row is not None  # an upsert returns its row
        return MARKET_NOTICES.record(row)

    async def mark_told(self, user_id: int, cluster_id: str, slot_start_us: int, told: int) -> None:
        await self._db.execute(_MARK_TOLD, user_id, cluster_id, slot_start_us, told)

    async def notices_to_fold(self, cluster_id: str, *, slot_before_us: int, limit: int) -> list[FillNotice]:
        rows = await self._db.fetch(_TO_FOLD, cluster_id, slot_before_us, max(limit, 0))
        return [MARKET_NOTICES.record(r) for r in rows]
