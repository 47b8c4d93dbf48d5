"""The market's values: orders, trades, a slot's price and history, quotes, tariffs.

Units as everywhere: money in ngwee, energy in Wh, prices in ngwee per kWh, times in UTC microseconds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from engine.kernel.units import WH_PER_KWH


class Side(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderState(enum.StrEnum):
    OPEN = "open"  # resting, nothing filled yet
    PARTIAL = "partial"  # resting, some filled
    FILLED = "filled"
    CANCELLED = "cancelled"  # by its owner, or by self-trade prevention after some fills
    EXPIRED = "expired"  # its slot (or day) ended with energy left
    REJECTED = "rejected"  # stopped by self-trade prevention before it filled or rested at all

    @property
    def active(self) -> bool:
        return self in (OrderState.OPEN, OrderState.PARTIAL)


ACTIVE_STATES = (OrderState.OPEN, OrderState.PARTIAL)


def money_of(value: int) -> int:
    """Ngwee for an order's or a fill's value (Wh x ngwee/kWh), rounded up to the ngwee.

    An order's money is always its cumulative value rounded once, never a sum of
    rounded fills: a buyer then pays at most ``money_of(wh * bid)`` over any
    number of fills, and a seller receives at least ``money_of(wh * ask)``.
    """
    return -(-value // WH_PER_KWH)


@dataclass(frozen=True, slots=True)
class Order:
    """A limit order for one delivery slot (or good for the rest of the day).

    Its live reservation is the pending transfer ``reservation_id``: for a buy,
    the money for ``remaining_wh`` at the limit price plus the maximum fee; for a
    sell, ``remaining_wh`` of energy. Each fill posts part of it and reserves what
    is left under the next number, so a partial fill keeps the order's id.
    """

    id: str  # the operation id that placed it
    reference: str
    cluster_id: str
    user_id: int
    side: Side
    price: int  # limit, ngwee per kWh: the most a buyer pays, the least a seller receives (fee apart)
    wh: int
    remaining_wh: int
    slot_start_us: int  # delivery slot; good-for-day orders: the first slot they may fill in
    good_for_day: bool
    trade_until_us: int  # gate closure: matched until then
    expires_at_us: int  # its slot's end (or local midnight): what is left is released then
    seq: int  # per cluster, in order of arrival: time priority
    state: OrderState
    created_at_us: int
    updated_at_us: int
    filled_value: int = 0  # sum of wh x price of its fills
    fees_ngwee: int = 0  # fees paid so far (buys)
    fills: int = 0
    reserved: int = 0  # the live reservation's amount (ngwee for a buy, Wh for a sell); 0 when closed
    reason: str = ""  # why it was cancelled, expired or rejected

    @property
    def reservation_id(self) -> str:
        return f"{self.id}:r{self.fills}"

    @property
    def filled_wh(self) -> int:
        return self.wh - self.remaining_wh

    @property
    def money_ngwee(self) -> int:
        """What its fills paid (buy, fee apart) or received (sell) so far."""
        return money_of(self.filled_value)

    def tradeable(self, now_us: int) -> bool:
        return self.state.active and now_us < self.trade_until_us


@dataclass(frozen=True, slots=True)
class Trade:
    """One fill: ``wh`` at the resting order's ``price`` between a buy and a sell order."""

    id: str  # f"{cluster_id}:t{seq}"
    cluster_id: str
    seq: int
    slot_start_us: int  # the delivery slot
    buy_order_id: str
    sell_order_id: str
    buyer_id: int
    seller_id: int
    taker: Side  # the side of the incoming order
    price: int
    wh: int
    buyer_paid_ngwee: int  # fee apart
    seller_received_ngwee: int
    fee_ngwee: int
    at_us: int


@dataclass(frozen=True, slots=True)
class MarketState:
    """A cluster's market row: its sequences, and the lock every book change takes first."""

    cluster_id: str
    next_order_seq: int = 1
    next_trade_seq: int = 1


@dataclass(frozen=True, slots=True)
class SlotPrice:
    """One slot of a cluster's price history: the posted price, why, and what traded.

    With no trades, open/high/low/close are the posted price and volume is 0.
    """

    cluster_id: str
    slot_start_us: int
    price: int
    components: dict[str, int] = field(default_factory=dict)  # the explanation, as stored
    open: int = 0
    high: int = 0
    low: int = 0
    close: int = 0
    volume_wh: int = 0
    trades: int = 0


@dataclass(frozen=True, slots=True)
class Quote:
    """A price shown before a purchase from a cluster; the purchase names it and pays exactly this."""

    id: str
    user_id: int
    cluster_id: str
    wh: int
    price: int  # ngwee/kWh for the energy above the lifeline allowance
    lifeline_wh: int  # part of ``wh`` inside this month's lifeline allowance
    lifeline_price: int
    cost_ngwee: int
    slot_start_us: int
    created_at_us: int
    expires_at_us: int
    used_by: str = ""  # the purchase's operation id, once paid


@dataclass(frozen=True, slots=True)
class TouPeriod:
    """A time-of-use period in local time; ``end_minute`` may wrap past midnight (22:00-06:00)."""

    name: str  # "midday", "peak", "night": shown by explain
    start_minute: int
    end_minute: int
    factor_bps: int  # 10,000 = the base price


@dataclass(frozen=True, slots=True)
class Tariff:
    """A cluster's price rules from ``effective_from_us`` on, with where they come from."""

    cluster_id: str
    effective_from_us: int
    base: int  # ngwee/kWh
    floor: int  # what a seller is guaranteed (e.g. a buy-back rate)
    cap: int
    periods: tuple[TouPeriod, ...]
    lifeline_wh: int  # per household a month, never surge-priced
    source: str
    source_date: str  # ISO date of the source


@dataclass(frozen=True, slots=True)
class MonthlyEnergy:
    """A user's energy bought in one local month (cluster purchases and market buys) and what it cost."""

    user_id: int
    month: int  # yyyymm
    wh: int = 0
    ngwee: int = 0  # fees included
    lifeline_wh: int = 0  # of ``wh``, bought inside the lifeline allowance


@dataclass(frozen=True, slots=True)
class FillNotice:
    """Fills of one user in one cluster and slot: the first is told at once, the rest folded at the slot's end."""

    user_id: int
    cluster_id: str
    slot_start_us: int
    fills: int = 0
    told: int = 0  # fills already in an SMS
    bought_wh: int = 0
    sold_wh: int = 0
    paid_ngwee: int = 0  # fees included
    received_ngwee: int = 0
