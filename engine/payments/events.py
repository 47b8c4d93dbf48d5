"""What happens to payments: each ends once (settled, failed, or handed to an operator); sends; risk signals."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.identity.model import User
from engine.kernel.events import DomainEvent
from engine.payments.model import Payment


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentSucceeded(DomainEvent):
    """A deposit was credited, or a withdrawal's reservation posted (paid out)."""

    payment: Payment
    user: User


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentFailed(DomainEvent):
    """A deposit or withdrawal ended without moving money (a withdrawal's reservation released)."""

    payment: Payment
    user: User


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentDelayed(DomainEvent):
    """The provider has not given a final answer in time: an operator now decides; nothing is lost."""

    payment: Payment
    user: User


@dataclass(frozen=True, slots=True, kw_only=True)
class MoneySent(DomainEvent):
    payment: Payment
    sender: User
    recipient: User


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskSignal(DomainEvent):
    """Something the risk engine will want to look at (nothing is refused on it yet)."""

    kind: str  # LARGE_FIRST_WITHDRAWAL, MANY_SENDERS
    user_id: int
    detail: dict[str, str | int] = field(default_factory=dict)


LARGE_FIRST_WITHDRAWAL = "large_first_withdrawal"
MANY_SENDERS = "many_senders"
