"""One delivery slot's order book in memory: price levels kept sorted, each a queue in time order.

The service keeps its books in the database and matches with the same
:func:`~engine.markets.matching.match`; this class is the pure engine the
property tests check against a naive model and ``make bench`` measures.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, replace

from engine.markets.matching import FillAmounts, fill_amounts, hold_for, match
from engine.markets.model import Order, OrderState, Side


@dataclass(frozen=True, slots=True)
class BookFill:
    buy: Order  # both orders as they were before the fill
    sell: Order
    wh: int
    price: int
    amounts: FillAmounts


@dataclass(frozen=True, slots=True)
class Submitted:
    order: Order  # the incoming order after matching (resting, filled, cancelled or rejected)
    fills: tuple[BookFill, ...]
    self_trade: bool


def after_fill(order: Order, wh: int, price: int, fee: int, now_us: int, fee_bps: int) -> Order:
    """``order`` after a fill of ``wh`` at ``price`` (``fee``: what the fill's buyer paid in fees).

    What it still reserves: a sell, its remaining energy; a buy, :func:`buy_hold`. Built
    field by field, not with ``dataclasses.replace``: this is the book's hot path, and
    ``replace`` costs ten times as much.
    """
    o = order
    remaining = o.remaining_wh - wh
    value = o.filled_value + wh * price
    fees = o.fees_ngwee + fee
    if not remaining:
        reserved = 0
    elif o.side is Side.SELL:
        reserved = remaining
    else:
        reserved = hold_for(value, remaining, o.price, fee_bps)
    return Order(
        o.id, o.reference, o.cluster_id, o.user_id, o.side, o.price, o.wh, remaining, o.slot_start_us,
        o.good_for_day, o.trade_until_us, o.expires_at_us, o.seq,
        OrderState.PARTIAL if remaining else OrderState.FILLED, o.created_at_us, now_us, value, fees,
        o.fills + 1, reserved, o.reason,
    )  # fmt: skip


def fill_orders(incoming: Order, maker: Order, wh: int, price: int, fee_bps: int) -> tuple[Order, Order, BookFill]:
    """Both orders after one fill, and the fill (the buyer is whichever order buys)."""
    buy, sell = (incoming, maker) if incoming.side is Side.BUY else (maker, incoming)
    amounts = fill_amounts(buy, sell, wh, price, fee_bps)
    now = incoming.updated_at_us
    incoming_fee = amounts.fee if incoming.side is Side.BUY else 0
    maker_fee = amounts.fee if maker.side is Side.BUY else 0
    return (
        after_fill(incoming, wh, price, incoming_fee, now, fee_bps),
        after_fill(maker, wh, price, maker_fee, now, fee_bps),
        BookFill(buy, sell, wh, price, amounts),
    )


def stopped_by_self_trade(order: Order) -> Order:
    """Cancel-newest: the incoming order ends here, rejected if nothing of it filled."""
    state = OrderState.CANCELLED if order.fills else OrderState.REJECTED
    return replace(order, state=state, reason="self_trade")


class _Side:
    def __init__(self, side: Side) -> None:
        self.side = side
        self.keys: list[int] = []  # ascending sort keys: the price for asks, minus the price for bids
        # each level in time order; an OrderedDict so that a cancel takes one order out in O(1)
        self.levels: dict[int, OrderedDict[str, Order]] = {}

    def key(self, price: int) -> int:
        return price if self.side is Side.SELL else -price

    def add(self, order: Order) -> None:
        k = self.key(order.price)
        level = self.levels.get(k)
        if level is None:
            bisect.insort(self.keys, k)
            level = self.levels[k] = OrderedDict()
        level[order.id] = order

    def best_first(self) -> Iterator[Order]:
        for k in self.keys:
            yield from self.levels[k].values()

    def replace_head(self, order: Order) -> None:
        """The best order was partly filled: it keeps its place in time."""
        self.levels[self.key(order.price)][order.id] = order

    def pop_head(self) -> None:
        k = self.keys[0]
        level = self.levels[k]
        level.popitem(last=False)
        if not level:
            del self.levels[k]
            del self.keys[0]

    def remove(self, order_id: str, price: int) -> Order | None:
        k = self.key(price)
        level = self.levels.get(k)
        order = None if level is None else level.pop(order_id, None)
        if level is not None and not level:
            del self.levels[k]
            self.keys.remove(k)
        return order

    def best_price(self) -> int | None:
        return None if not self.keys else abs(self.keys[0])

    def depth(self, levels: int) -> list[tuple[int, int, int]]:
        return [
            (abs(k), sum(o.remaining_wh for o in self.levels[k].values()), len(self.levels[k]))
            for k in self.keys[:levels]
        ]


class OrderBook:
    def __init__(self, *, fee_bps: int = 0) -> None:
        self._fee_bps = fee_bps
        self._sides = {Side.BUY: _Side(Side.BUY), Side.SELL: _Side(Side.SELL)}
        self._where: dict[str, tuple[Side, int]] = {}

    def submit(self, order: Order) -> Submitted:
        """Match ``order`` against the other side; rest what is left unless self-trade prevention stopped it."""
        opposite = self._sides[order.side.opposite]
        outcome = match(order, opposite.best_first())
        fills: list[BookFill] = []
        incoming = order
        for m in outcome.matches:
            # matches are the best orders in turn, so each is the head of the book when it fills
            incoming, maker, fill = fill_orders(incoming, m.maker, m.wh, m.price, self._fee_bps)
            fills.append(fill)
            if maker.remaining_wh == 0:
                opposite.pop_head()
                del self._where[maker.id]
            else:
                opposite.replace_head(maker)
        if outcome.self_trade is not None:
            return Submitted(stopped_by_self_trade(incoming), tuple(fills), True)
        if incoming.remaining_wh > 0:
            self._sides[order.side].add(incoming)
            self._where[incoming.id] = (order.side, order.price)
        return Submitted(incoming, tuple(fills), False)

    def cancel(self, order_id: str) -> Order | None:
        found = self._where.pop(order_id, None)
        if found is None:
            return None
        side, price = found
        removed = self._sides[side].remove(order_id, price)
        return None if removed is None else replace(removed, state=OrderState.CANCELLED, reason="user")

    def best(self, side: Side) -> int | None:
        return self._sides[side].best_price()

    def depth(self, side: Side, levels: int = 5) -> list[tuple[int, int, int]]:
        return self._sides[side].depth(levels)

    def resting(self, side: Side) -> list[Order]:
        return list(self._sides[side].best_first())

    def __len__(self) -> int:
        return len(self._where)
