"""Price-time matching, as exchanges do it: pure functions over orders, used by the book and the service.

- A resting order crosses an incoming buy when its price is at or below the bid,
  an incoming sell when at or above the ask.
- Candidates come best first: price, then time (``seq``); ``seq`` is unique per
  cluster, so ties are deterministic.
- Every fill is at the resting order's price.
- Self-trade prevention, "cancel newest": when the next crossing order is the
  incoming order's owner's own, matching stops there and what is left of the
  incoming (newer) order is cancelled; the resting order is untouched.

The money of a fill (:func:`fill_amounts`) is derived from each order's
cumulative value, so however an order is split, its buyer pays at most its bid
and its seller receives at least its ask (the fee is on top, paid by the buyer).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from engine.kernel.units import basis_points_rounded_up
from engine.markets.model import Order, Side, money_of


def crosses(incoming: Order, resting: Order) -> bool:
    if incoming.side is Side.BUY:
        return resting.price <= incoming.price
    return resting.price >= incoming.price


@dataclass(frozen=True, slots=True)
class Match:
    maker: Order  # the resting order as it was before this fill
    wh: int
    price: int  # the maker's price


@dataclass(frozen=True, slots=True)
class MatchOutcome:
    matches: tuple[Match, ...]
    remaining_wh: int  # of the incoming order
    self_trade: Order | None  # the owner's own resting order that stopped matching


def match(incoming: Order, candidates: Iterable[Order]) -> MatchOutcome:
    """Match ``incoming`` against opposite orders given best first; consume only what is needed."""
    remaining = incoming.remaining_wh
    matches: list[Match] = []
    stopped: Order | None = None
    for resting in candidates:
        if remaining <= 0 or not crosses(incoming, resting):
            break
        if resting.user_id == incoming.user_id:
            stopped = resting
            break
        wh = min(remaining, resting.remaining_wh)
        if wh <= 0:
            continue
        matches.append(Match(resting, wh, resting.price))
        remaining -= wh
    return MatchOutcome(tuple(matches), remaining, stopped)


def buy_reservation(wh: int, price: int, fee_bps: int) -> int:
    """Ngwee a buy order reserves: its energy at its bid, plus the fee on that (the most it can cost)."""
    cost = money_of(wh * price)
    return cost + basis_points_rounded_up(cost, fee_bps)


def buy_hold(order: Order, fee_bps: int) -> int:
    """What a buy order must still hold: the most its remaining energy can cost at its bid, fee included.

    Its money is always its cumulative value rounded once (see :func:`money_of`), so this is
    the cost with the rest filled at the bid minus what was paid; a fill at a better price
    lowers it, and the difference goes back to the buyer at once.
    """
    return hold_for(order.filled_value, order.remaining_wh, order.price, fee_bps)


def hold_for(filled_value: int, remaining_wh: int, price: int, fee_bps: int) -> int:
    """:func:`buy_hold` from the order's numbers."""
    paid = money_of(filled_value)
    most = money_of(filled_value + remaining_wh * price)
    return most + basis_points_rounded_up(most, fee_bps) - paid - basis_points_rounded_up(paid, fee_bps)


@dataclass(frozen=True, slots=True)
class FillAmounts:
    buyer_pays: int  # ngwee out of the buyer's reservation for the energy (fee apart)
    fee: int  # on top, to the platform
    seller_gets: int
    # seller_gets - buyer_pays: each side's money is its own cumulative value rounded up once,
    # so the two can differ by a ngwee; the market's rounding account pays or keeps it.
    rounding: int


def fill_amounts(buy: Order, sell: Order, wh: int, price: int, fee_bps: int) -> FillAmounts:
    """The money of one fill, from each order's value before and after it."""
    value = wh * price
    buyer_before, buyer_after = money_of(buy.filled_value), money_of(buy.filled_value + value)
    seller_before, seller_after = money_of(sell.filled_value), money_of(sell.filled_value + value)
    pays = buyer_after - buyer_before
    fee = basis_points_rounded_up(buyer_after, fee_bps) - basis_points_rounded_up(buyer_before, fee_bps)
    gets = seller_after - seller_before
    return FillAmounts(buyer_pays=pays, fee=fee, seller_gets=gets, rounding=gets - pays)
