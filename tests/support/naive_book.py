"""A naive order book to check the engine's against: a flat list, sorted afresh on every order.

It shares no code with :mod:`engine.markets.book` or :mod:`engine.markets.matching`:
price-time matching written the obvious way, as slowly as it likes. Only the
:func:`limit_order` builder uses the engine's types, to feed the real book the
same orders.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.markets.matching import buy_reservation
from engine.markets.model import Order, OrderState, Side

CLUSTER = "naive-mini"
SLOT_START = 1_767_240_000_000_000  # 2026-01-01 04:00 UTC
SLOT_US = 900_000_000


def limit_order(seq: int, user: int, side: Side, price: int, wh: int, *, fee_bps: int = 0) -> Order:
    """Order ``seq`` as placing it makes it: open, its whole reservation taken (money and fee, or energy)."""
    return Order(
        id=f"op-{seq}",
        reference=f"MK{seq:05d}",
        cluster_id=CLUSTER,
        user_id=user,
        side=side,
        price=price,
        wh=wh,
        remaining_wh=wh,
        slot_start_us=SLOT_START,
        good_for_day=False,
        trade_until_us=SLOT_START - SLOT_US // 3,
        expires_at_us=SLOT_START + SLOT_US,
        seq=seq,
        state=OrderState.OPEN,
        created_at_us=SLOT_START - SLOT_US + seq,
        updated_at_us=SLOT_START - SLOT_US + seq,
        reserved=buy_reservation(wh, price, fee_bps) if side is Side.BUY else wh,
    )


@dataclass
class NaiveOrder:
    id: str
    user: int
    buying: bool
    price: int
    remaining: int
    seq: int


@dataclass(frozen=True)
class NaiveFill:
    buy_id: str
    sell_id: str
    wh: int
    price: int


@dataclass
class NaiveOutcome:
    fills: list[NaiveFill] = field(default_factory=list)
    remaining: int = 0
    rested: bool = False
    self_trade: bool = False


class NaiveBook:
    def __init__(self) -> None:
        self.orders: list[NaiveOrder] = []  # resting, in no particular order

    def submit(self, order_id: str, user: int, buying: bool, price: int, wh: int, seq: int) -> NaiveOutcome:
        others = [o for o in self.orders if o.buying != buying]
        if buying:
            others.sort(key=lambda o: (o.price, o.seq))  # cheapest ask first
        else:
            others.sort(key=lambda o: (-o.price, o.seq))  # dearest bid first
        outcome = NaiveOutcome(remaining=wh)
        for other in others:
            if outcome.remaining == 0:
                break
            if buying and other.price > price:
                break
            if not buying and other.price < price:
                break
            if other.user == user:
                outcome.self_trade = True
                break
            wh_now = min(outcome.remaining, other.remaining)
            if buying:
                outcome.fills.append(NaiveFill(order_id, other.id, wh_now, other.price))
            else:
                outcome.fills.append(NaiveFill(other.id, order_id, wh_now, other.price))
            outcome.remaining -= wh_now
            other.remaining -= wh_now
        self.orders = [o for o in self.orders if o.remaining > 0]
        if outcome.remaining > 0 and not outcome.self_trade:
            self.orders.append(NaiveOrder(order_id, user, buying, price, outcome.remaining, seq))
            outcome.rested = True
        return outcome

    def cancel(self, order_id: str) -> bool:
        before = len(self.orders)
        self.orders = [o for o in self.orders if o.id != order_id]
        return len(self.orders) < before

    def resting(self, buying: bool) -> list[tuple[str, int]]:
        """``(id, remaining)`` of one side, best first."""
        mine = [o for o in self.orders if o.buying == buying]
        mine.sort(key=lambda o: (-o.price if buying else o.price, o.seq))
        return [(o.id, o.remaining) for o in mine]
