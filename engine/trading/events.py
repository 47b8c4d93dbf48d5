"""What happens in peer-to-peer trading: trades and gifts settled, offers made and declined."""

from __future__ import annotations

from dataclasses import dataclass

from engine.identity.model import User
from engine.kernel.events import DomainEvent
from engine.trading.model import Offer


@dataclass(frozen=True, slots=True, kw_only=True)
class TradeSettled(DomainEvent):
    """Energy moved from seller to buyer, and its price (0: a gift) and fee from buyer to seller."""

    seller: User
    buyer: User
    wh: int
    cost_ngwee: int
    fee_ngwee: int
    reference: str
    gift: bool = False
    offer_id: str = ""  # set when the buyer accepted an offer


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferMade(DomainEvent):
    offer: Offer
    seller: User
    buyer: User
    buyer_pays_ngwee: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferDeclined(DomainEvent):
    offer: Offer
    seller: User
    buyer_phone: str
