"""What happens in a cluster's market: orders placed, filled, cancelled and expired, slots closed, energy bought."""

from __future__ import annotations

from dataclasses import dataclass

from engine.identity.model import User
from engine.kernel.events import DomainEvent
from engine.markets.model import FillNotice, Order, Trade


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderPlaced(DomainEvent):
    """An order entered the book; ``fills`` are the trades it made on arrival (its owner is the taker)."""

    order: Order  # after matching
    owner: User
    fills: tuple[Trade, ...]
    cluster_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MakerFilled(DomainEvent):
    """A resting order was filled by someone else's order: its owner's first fill in a slot is told at once."""

    trade: Trade
    order: Order  # the resting order after the fill
    owner: User
    notice: FillNotice  # the owner's fills in this slot so far
    tell_now: bool  # the owner's first fill in the slot; later ones are folded at its end
    cluster_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderClosed(DomainEvent):
    """An order left the book without filling completely: cancelled by its owner, or expired."""

    order: Order
    owner: User
    released: int  # what its reservation gave back (ngwee for a buy, Wh for a sell)


@dataclass(frozen=True, slots=True, kw_only=True)
class FillsFolded(DomainEvent):
    """Fills of a slot beyond the first, told in one SMS when the slot closed."""

    notice: FillNotice
    owner: User
    cluster_name: str
