"""Energy offered by one user to another, waiting for the buyer's answer."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class OfferStatus(enum.StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    DECLINED = "declined"


@dataclass(frozen=True, slots=True)
class Offer:
    """Energy offered to one buyer: the seller's kWh are reserved until the buyer decides."""

    id: str  # the operation id; the reservation is the pending transfer "<id>:energy"
    reference: str
    seller_id: int
    buyer_id: int
    wh: int
    price_ngwee_per_kwh: int
    cost_ngwee: int
    fee_ngwee: int
    status: OfferStatus
    created_at: int
    expires_at: int

    @property
    def reservation_id(self) -> str:
        return f"{self.id}:energy"

    def is_open(self, now_us: int) -> bool:
        return self.status is OfferStatus.OPEN and now_us < self.expires_at
