"""The market's repositories, written once for SQLite and PostgreSQL (engine.markets.ports).

Orders, trades and each cluster's market row here; price history, quotes,
tariffs, monthly energy and fill notices in
:mod:`storage.repositories.market_prices`, composed into one reader and one
writer.

The book is read down one partial index per side (``market_orders_buys``,
``market_orders_sells``), which holds resting orders only, in priority order:
the best orders are the first rows of a range scan and LIMIT stops it, however
many orders the cluster has. Each statement repeats its index's predicate
(the side and the active states as literals), so both databases read it.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.markets.model import MarketState, Order, OrderState, Side, Trade
from storage.dialect import Sql, sql
from storage.market_tables import MARKET_ORDERS, MARKET_STATE, MARKET_TRADES, ORDER_CHANGES
from storage.repositories.market_prices import PriceReads, PriceWrites

_ACTIVE = "state IN ('open', 'partial')"  # as OrderState.active, and the book's and expiry's indexes
_ORDERS = f"SELECT {MARKET_ORDERS.select} FROM market_orders"
_PRIORITY = {Side.BUY: "price DESC, seq", Side.SELL: "price, seq"}
_BEST_PRICE_FIRST = {Side.BUY: "price DESC", Side.SELL: "price"}


def _book(side: Side) -> str:
    """A side's tradeable orders of cluster $1 at time $2, as the side's index selects them."""
    return f"cluster_id = $1 AND side = '{side}' AND {_ACTIVE} AND trade_until > $2"


def _best_orders(side: Side, *, slot: bool, after: bool) -> Sql:
    """$1 cluster, $2 now, $3 limit; then the slot, then the previous page's last (price, seq)."""
    where = [_book(side)]
    n = 4
    if slot:
        # A good-for-day order fills in any slot from its first one on.
        where.append(f"(slot_start = ${n} OR (good_for_day = 1 AND slot_start <= ${n}))")
        n += 1
    if after:
        # Past (price, seq) in priority order; the bound on price alone starts the index scan there.
        worse, strictly_worse = ("<=", "<") if side is Side.BUY else (">=", ">")
        where.append(f"price {worse} ${n} AND (price {strictly_worse} ${n} OR seq > ${n + 1})")
    return sql(f"{_ORDERS} WHERE {' AND '.join(where)} ORDER BY {_PRIORITY[side]} LIMIT $3")


# What best_orders runs, by (side, slot given, page after given); tests read their plans.
BEST_ORDERS = {
    (side, slot, after): _best_orders(side, slot=slot, after=after)
    for side in Side
    for slot in (False, True)
    for after in (False, True)
}
_DEPTH = {
    side: sql(
        f"SELECT price, SUM(remaining_wh), COUNT(*) FROM market_orders WHERE {_book(side)} "
        f"GROUP BY price ORDER BY {_BEST_PRICE_FIRST[side]} LIMIT $3"
    )
    for side in Side
}
# One subquery per side, so each reads its side's index.
_OPEN_INTEREST = sql(
    f"SELECT (SELECT COALESCE(SUM(remaining_wh), 0) FROM market_orders WHERE {_book(Side.BUY)}), "
    f"(SELECT COALESCE(SUM(remaining_wh), 0) FROM market_orders WHERE {_book(Side.SELL)})"
)

_ORDER = sql(f"{_ORDERS} WHERE id = $1")
_NEWEST_FIRST = "ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
_USER_ORDERS = sql(f"{_ORDERS} WHERE user_id = $1 {_NEWEST_FIRST}")
_USER_ORDERS_IN = sql(f"{_ORDERS} WHERE user_id = $1 AND state = ANY($4::text[]) {_NEWEST_FIRST}")
# Down market_orders_user_active.
_COUNT_ACTIVE = sql(f"SELECT COUNT(*) FROM market_orders WHERE user_id = $1 AND {_ACTIVE}")
# Down market_orders_expiry.
_DUE_EXPIRIES = sql(
    f"{_ORDERS} WHERE cluster_id = $1 AND {_ACTIVE} AND expires_at <= $2 ORDER BY expires_at, seq LIMIT $3"
)
_INSERT_ORDER = sql(f"{MARKET_ORDERS.insert} ON CONFLICT (id) DO NOTHING")
_order_changes = MARKET_ORDERS.getter(*ORDER_CHANGES)
_UPDATE_ORDER = sql(f"UPDATE market_orders SET {MARKET_ORDERS.assignments(ORDER_CHANGES, first=2)} WHERE id = $1")

_TRADES = f"SELECT {MARKET_TRADES.select} FROM market_trades"
_CLUSTER_TRADES = sql(f"{_TRADES} WHERE cluster_id = $1 ORDER BY seq DESC LIMIT $2")
_CLUSTER_TRADES_BEFORE = sql(f"{_TRADES} WHERE cluster_id = $1 AND seq < $3 ORDER BY seq DESC LIMIT $2")
# The newest where the user bought and the newest where they sold, each down its own
# index, merged: never more than twice the page, whatever the user's history.
_TRADE_ORDER = "ORDER BY at DESC, cluster_id DESC, seq DESC LIMIT $2"
_USER_TRADES = sql(
    f"SELECT {MARKET_TRADES.select} FROM ("
    f"SELECT * FROM ({_TRADES} WHERE buyer_id = $1 {_TRADE_ORDER}) AS bought UNION "
    f"SELECT * FROM ({_TRADES} WHERE seller_id = $1 {_TRADE_ORDER}) AS sold"
    f") AS mine {_TRADE_ORDER}"
)
_INSERT_TRADE = sql(MARKET_TRADES.insert)

# PostgreSQL locks the row until the transaction ends; SQLite's write transaction holds the database.
_LOCK = sql(f"SELECT {MARKET_STATE.select} FROM market_state WHERE cluster_id = $1 FOR UPDATE")
_CREATE = sql(
    "INSERT INTO market_state (cluster_id, next_order_seq, next_trade_seq) VALUES ($1, 1, 1) "
    "ON CONFLICT (cluster_id) DO NOTHING"
)
_SAVE = sql("UPDATE market_state SET next_order_seq = $2, next_trade_seq = $3 WHERE cluster_id = $1")


class MarketReads(PriceReads):
    """engine.markets.ports.MarketReader over one executor."""

    async def order_by_id(self, order_id: str) -> Order | None:
        row = await self._db.fetch_one(_ORDER, order_id)
        return MARKET_ORDERS.record(row) if row is not None else None

    async def best_orders(
        self,
        cluster_id: str,
        side: Side,
        *,
        now_us: int,
        slot_start_us: int | None,
        limit: int,
        after: tuple[int, int] | None = None,
    ) -> list[Order]:
        args: list[object] = [cluster_id, now_us, max(limit, 0)]
        if slot_start_us is not None:
            args.append(slot_start_us)
        if after is not None:
            args.extend(after)
        statement = BEST_ORDERS[Side(side), slot_start_us is not None, after is not None]
        return [MARKET_ORDERS.record(r) for r in await self._db.fetch(statement, *args)]

    async def orders_for_user(
        self, user_id: int, *, states: Sequence[OrderState] | None = None, limit: int = 20, offset: int = 0
    ) -> list[Order]:
        page = (max(limit, 0), max(offset, 0))
        if states is None:
            rows = await self._db.fetch(_USER_ORDERS, user_id, *page)
        else:
            rows = await self._db.fetch(_USER_ORDERS_IN, user_id, *page, [str(s) for s in states])
        return [MARKET_ORDERS.record(r) for r in rows]

    async def count_active_orders(self, user_id: int) -> int:
        row = await self._db.fetch_one(_COUNT_ACTIVE, user_id)
        assert row is not None
        return int(row[0])

    async def depth(self, cluster_id: str, side: Side, *, now_us: int, levels: int) -> list[tuple[int, int, int]]:
        rows = await self._db.fetch(_DEPTH[Side(side)], cluster_id, now_us, max(levels, 0))
        return [(int(price), int(wh), int(orders)) for price, wh, orders in rows]

    async def open_interest(self, cluster_id: str, *, now_us: int) -> tuple[int, int]:
        row = await self._db.fetch_one(_OPEN_INTEREST, cluster_id, now_us)
        assert row is not None
        return int(row[0]), int(row[1])

    async def trades(self, cluster_id: str, *, limit: int = 20, before_seq: int | None = None) -> list[Trade]:
        if before_seq is None:
            rows = await self._db.fetch(_CLUSTER_TRADES, cluster_id, max(limit, 0))
        else:
            rows = await self._db.fetch(_CLUSTER_TRADES_BEFORE, cluster_id, max(limit, 0), before_seq)
        return [MARKET_TRADES.record(r) for r in rows]

    async def trades_for_user(self, user_id: int, *, limit: int = 20) -> list[Trade]:
        rows = await self._db.fetch(_USER_TRADES, user_id, max(limit, 0))
        return [MARKET_TRADES.record(r) for r in rows]


class MarketRepository(MarketReads, PriceWrites):
    """engine.markets.ports.MarketWriter inside one open transaction."""

    async def lock_market(self, cluster_id: str) -> MarketState:
        # The row exists but for a cluster's first order: one round trip then.
        row = await self._db.fetch_one(_LOCK, cluster_id)
        if row is None:
            # Two first lockers: the second's insert waits for the first's, then does nothing.
            await self._db.execute(_CREATE, cluster_id)
            row = await self._db.fetch_one(_LOCK, cluster_id)
            assert row is not None
        return MARKET_STATE.record(row)

    async def save_market(self, state: MarketState) -> None:
        await self._db.execute(_SAVE, state.cluster_id, state.next_order_seq, state.next_trade_seq)

    async def insert_order(self, order: Order) -> bool:
        return await self._db.execute(_INSERT_ORDER, *MARKET_ORDERS.values(order)) == 1

    async def update_order(self, order: Order) -> None:
        await self._db.execute(_UPDATE_ORDER, order.id, *_order_changes(order))

    async def due_expiries(self, cluster_id: str, *, now_us: int, limit: int) -> list[Order]:
        rows = await self._db.fetch(_DUE_EXPIRIES, cluster_id, now_us, max(limit, 0))
        return [MARKET_ORDERS.record(r) for r in rows]

    async def insert_trade(self, trade: Trade) -> None:
        await self._db.execute(_INSERT_TRADE, *MARKET_TRADES.values(trade))
