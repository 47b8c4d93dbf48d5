"""Gifts and offers between people (a sale is an offer the buyer accepts with their own PIN)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from engine.trading.model import Offer as OfferRecord
from engine.trading.offers import OfferView
from engine.trading.trades import TradeReceipt
from ussd_server.api.models.common import Body, Money, PhoneText, Pin, Price, PricePerKwh, View, WattHours, at

OfferId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9:_-]+$")]


class SendGift(Body):
    to: PhoneText
    wh: WattHours
    pin: Pin


class MakeOffer(Body):
    to: PhoneText
    wh: WattHours
    price_ngwee_per_kwh: PricePerKwh | None = Field(
        default=None, description="ngwee per kWh; the market price when left out"
    )
    pin: Pin


class AnswerOffer(Body):
    pin: Pin


class Counterparty(View):
    phone: str
    short_name: str = Field(description="first name and last initial, as USSD shows it")


class Gift(View):
    reference: str
    to: str
    energy_wh: int


class Trade(View):
    """An accepted offer: energy to the buyer, money (and the fee) to the seller."""

    reference: str
    seller_phone: str
    energy_wh: int
    price: Price
    cost: Money
    fee: Money
    total: Money = Field(description="what the buyer paid: cost and fee")

    @classmethod
    def of(cls, receipt: TradeReceipt) -> Trade:
        q = receipt.quote
        return cls(
            reference=receipt.reference,
            seller_phone=receipt.seller_phone,
            energy_wh=q.wh,
            price=Price.of(q.price_ngwee_per_kwh),
            cost=Money.of(q.cost_ngwee),
            fee=Money.of(q.fee_ngwee),
            total=Money.of(q.buyer_pays),
        )


OfferStatusText = Literal["open", "accepted", "declined"]


class Offer(View):
    id: str
    reference: str
    energy_wh: int
    price: Price
    cost: Money
    fee: Money
    total: Money = Field(description="what the buyer pays on accepting")
    status: OfferStatusText
    created_at: datetime
    expires_at: datetime
    seller_name: str | None = Field(default=None, description="set on offers made to you")
    seller_phone: str | None = None
    buyer_phone: str | None = Field(default=None, description="set on an offer you made")

    @classmethod
    def of(cls, offer: OfferRecord, **people: str | None) -> Offer:
        return cls(
            id=offer.id,
            reference=offer.reference,
            energy_wh=offer.wh,
            price=Price.of(offer.price_ngwee_per_kwh),
            cost=Money.of(offer.cost_ngwee),
            fee=Money.of(offer.fee_ngwee),
            total=Money.of(offer.cost_ngwee + offer.fee_ngwee),
            status=str(offer.status),  # type: ignore[arg-type]  # OfferStatus's values are the literals
            created_at=at(offer.created_at),
            expires_at=at(offer.expires_at),
            **people,
        )

    @classmethod
    def received(cls, view: OfferView) -> Offer:
        return cls.of(view.offer, seller_name=view.seller_name, seller_phone=view.seller_phone)


class Declined(View):
    id: str
    status: Literal["declined"] = "declined"
