"""The in-memory market (engine.markets.ports): the answers of storage.repositories.markets.

Orders, trades and each cluster's market row here, in the same priority
orders, filters and pages as the SQL; the rest of the market in
:mod:`storage.memory.market_prices`. One transaction writes at a time, so
reading is locking (:meth:`MemoryMarkets.lock_market`). The schema's CHECK,
UNIQUE and foreign-key constraints are checked where a bug could break them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from engine.markets.model import ACTIVE_STATES, MarketState, Order, OrderState, Side, Trade
from storage.memory.ledger import ConstraintViolation
from storage.memory.market_prices import MemoryPrices, check


def _price_sign(side: Side) -> int:
    """How a side's prices sort best first: buys highest, sells lowest."""
    return -1 if side is Side.BUY else 1


def _stored_order(order: Order) -> Order:
    o = order
    try:
        stored = replace(o, side=Side(o.side), state=OrderState(o.state), good_for_day=bool(o.good_for_day))
    except ValueError as exc:
        raise ConstraintViolation(f"order {o.id!r}: {exc}") from exc
    check(
        o.price > 0
        and o.wh > 0
        and 0 <= o.remaining_wh <= o.wh
        and o.seq >= 1
        and min(o.filled_value, o.fees_ngwee, o.fills, o.reserved) >= 0,
        f"order {o.id!r}: a number out of range",
    )
    return stored


class MemoryMarkets(MemoryPrices):
    """engine.markets.ports.MarketWriter (its reads alone on a database's committed tables)."""

    # --- orders -------------------------------------------------------------------

    async def order_by_id(self, order_id: str) -> Order | None:
        return self._t.market_orders.get(order_id)

    def _book(self, cluster_id: str, side: Side, now_us: int) -> Iterable[Order]:
        return (
            o
            for o in self._t.market_orders.values()
            if o.cluster_id == cluster_id and o.side is side and o.state.active and now_us < o.trade_until_us
        )

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
        side = Side(side)
        price_sign = _price_sign(side)
        found = list(self._book(cluster_id, side, now_us))
        if slot_start_us is not None:
            slot = slot_start_us
            found = [o for o in found if o.slot_start_us == slot or (o.good_for_day and o.slot_start_us <= slot)]
        if after is not None:
            mark = (price_sign * after[0], after[1])
            found = [o for o in found if (price_sign * o.price, o.seq) > mark]
        found.sort(key=lambda o: (price_sign * o.price, o.seq))
        return found[: max(limit, 0)]

    async def orders_for_user(
        self, user_id: int, *, states: Sequence[OrderState] | None = None, limit: int = 20, offset: int = 0
    ) -> list[Order]:
        wanted = None if states is None else {str(s) for s in states}
        mine = [
            o for o in self._t.market_orders.values() if o.user_id == user_id and (wanted is None or o.state in wanted)
        ]
        mine.sort(key=lambda o: (o.created_at_us, o.id), reverse=True)
        start = max(offset, 0)
        return mine[start : start + max(limit, 0)]

    async def count_active_orders(self, user_id: int) -> int:
        return sum(1 for o in self._t.market_orders.values() if o.user_id == user_id and o.state.active)

    async def depth(self, cluster_id: str, side: Side, *, now_us: int, levels: int) -> list[tuple[int, int, int]]:
        side = Side(side)
        price_sign = _price_sign(side)
        by_price: dict[int, tuple[int, int]] = {}
        for o in self._book(cluster_id, side, now_us):
            wh, orders = by_price.get(o.price, (0, 0))
            by_price[o.price] = (wh + o.remaining_wh, orders + 1)
        best_first = sorted(by_price, key=lambda price: price_sign * price)[: max(levels, 0)]
        return [(price, *by_price[price]) for price in best_first]

    async def open_interest(self, cluster_id: str, *, now_us: int) -> tuple[int, int]:
        buy = sum(o.remaining_wh for o in self._book(cluster_id, Side.BUY, now_us))
        sell = sum(o.remaining_wh for o in self._book(cluster_id, Side.SELL, now_us))
        return buy, sell

    async def lock_market(self, cluster_id: str) -> MarketState:
        # One transaction writes at a time: reading is locking.
        state = self._t.market_state.get(cluster_id)
        if state is None:
            check(cluster_id in self._t.clusters, f"market of {cluster_id!r}: no such cluster")
            state = MarketState(cluster_id)
            self._t.market_state.put(cluster_id, state)
        return state

    async def save_market(self, state: MarketState) -> None:
        if state.cluster_id not in self._t.market_state:
            return  # as the UPDATE: no row, nothing written
        check(min(state.next_order_seq, state.next_trade_seq) >= 1, f"market of {state.cluster_id!r}: sequence")
        self._t.market_state.put(state.cluster_id, state)

    async def insert_order(self, order: Order) -> bool:
        if order.id in self._t.market_orders:
            return False
        stored = _stored_order(order)
        key = (stored.cluster_id, stored.seq)
        check(key not in self._t.market_order_seqs, f"order {order.id!r}: sequence {order.seq} taken")
        check(stored.cluster_id in self._t.clusters, f"order {order.id!r}: no cluster {order.cluster_id!r}")
        check(stored.user_id in self._t.users, f"order {order.id!r}: no user {order.user_id}")
        self._t.market_orders.put(stored.id, stored)
        self._t.market_order_seqs.put(key, stored.id)
        return True

    async def update_order(self, order: Order) -> None:
        current = self._t.market_orders.get(order.id)
        if current is None:
            return
        o = order
        changed = replace(
            current,
            remaining_wh=o.remaining_wh,
            state=o.state,
            fills=o.fills,
            filled_value=o.filled_value,
            fees_ngwee=o.fees_ngwee,
            reserved=o.reserved,
            reason=o.reason,
            updated_at_us=o.updated_at_us,
        )
        self._t.market_orders.put(o.id, _stored_order(changed))

    async def due_expiries(self, cluster_id: str, *, now_us: int, limit: int) -> list[Order]:
        due = [
            o
            for o in self._t.market_orders.values()
            if o.cluster_id == cluster_id and o.state in ACTIVE_STATES and o.expires_at_us <= now_us
        ]
        return sorted(due, key=lambda o: (o.expires_at_us, o.seq))[: max(limit, 0)]

    # --- trades -------------------------------------------------------------------

    async def trades(self, cluster_id: str, *, limit: int = 20, before_seq: int | None = None) -> list[Trade]:
        found = (
            t
            for t in self._t.market_trades.values()
            if t.cluster_id == cluster_id and (before_seq is None or t.seq < before_seq)
        )
        return sorted(found, key=lambda t: t.seq, reverse=True)[: max(limit, 0)]

    async def trades_for_user(self, user_id: int, *, limit: int = 20) -> list[Trade]:
        mine = (t for t in self._t.market_trades.values() if user_id in (t.buyer_id, t.seller_id))
        return sorted(mine, key=lambda t: (t.at_us, t.cluster_id, t.seq), reverse=True)[: max(limit, 0)]

    async def insert_trade(self, trade: Trade) -> None:
        t = trade
        key = (t.cluster_id, t.seq)
        check(t.id not in self._t.market_trades, f"trade {t.id!r} exists")
        check(key not in self._t.market_trade_seqs, f"trade {t.id!r}: sequence {t.seq} taken")
        check(t.cluster_id in self._t.clusters, f"trade {t.id!r}: no cluster {t.cluster_id!r}")
        check(t.buyer_id in self._t.users and t.seller_id in self._t.users, f"trade {t.id!r}: no such user")
        check(
            t.seq >= 1
            and t.price > 0
            and t.wh > 0
            and min(t.buyer_paid_ngwee, t.seller_received_ngwee, t.fee_ngwee) >= 0,
            f"trade {t.id!r}: a number out of range",
        )
        try:
            stored = replace(t, taker=Side(t.taker))
        except ValueError as exc:
            raise ConstraintViolation(f"trade {t.id!r}: {exc}") from exc
        self._t.market_trades.put(t.id, stored)
        self._t.market_trade_seqs.put(key, t.id)
