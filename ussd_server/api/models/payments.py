"""Mobile money: deposits, withdrawals, sends between wallets, and operators' decisions on stuck payments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from engine.payments.model import Payment
from engine.payments.transfers import SendReceipt
from ussd_server.api.models.common import Body, Money, Ngwee, PhoneText, Pin, Query, View, at

ProviderName = Literal["mtn", "airtel", "zamtel"]
PaymentId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9:_-]+$")]
DirectionText = Literal["deposit", "withdrawal", "transfer"]
StateText = Literal["created", "submitted", "pending", "successful", "failed", "expired", "unknown"]
_PROVIDER = Field(default=None, description="the mobile-money provider; by default the one of the number's network")


class StartDeposit(Body):
    amount_ngwee: Ngwee
    provider: ProviderName | None = _PROVIDER


class StartWithdrawal(Body):
    amount_ngwee: Ngwee
    pin: Pin
    provider: ProviderName | None = _PROVIDER


class SendMoney(Body):
    to_phone: PhoneText
    amount_ngwee: Ngwee
    pin: Pin


class ResolvePayment(Body):
    outcome: Literal["successful", "failed"] = Field(
        description="`successful` credits a deposit or pays out a withdrawal's reservation; `failed` releases it"
    )
    note: str = Field(
        min_length=1, max_length=500, description="what the provider confirmed, kept on the payment", examples=["MTN"]
    )


class PaymentsQuery(Query):
    limit: int = Field(default=10, ge=1, le=50)
    cursor: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$", description="`meta.next_cursor` of the previous page"
    )


class PaymentView(View):
    """A deposit, a withdrawal or a send, as it stands."""

    id: str = Field(description="the payment's id (also its operation id: the same on every retry)")
    reference: str = Field(description="what the user reads in the SMS and on the statement")
    direction: DirectionText
    state: StateText = Field(description="`created` until sent to the provider; final: successful, failed, expired")
    final: bool
    provider: str = Field(description="`mtn`, `airtel`, `zamtel`; `wallet` for a send between two wallets")
    phone: str = Field(description="the mobile-money number debited or credited (the sender's, for a send)")
    amount: Money
    received: bool = Field(description="true for a send made to the user whose payments these are")
    in_review: bool = Field(description="the provider gave no final answer in time: an operator decides")
    reason: str | None = Field(description="why it failed or is in review (e.g. `NOT_ENOUGH_FUNDS`)")
    provider_reference: str | None = Field(description="the provider's own transaction id, once it has one")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, payment: Payment, *, viewer_id: int | None = None) -> PaymentView:
        return cls(
            id=payment.id,
            reference=payment.reference,
            direction=payment.direction.value,
            state=payment.state.value,
            final=payment.final,
            provider=str(payment.provider),
            phone=payment.msisdn,
            amount=Money.of(payment.amount_ngwee),
            received=viewer_id is not None and payment.counterparty_id == viewer_id,
            in_review=payment.review,
            reason=payment.reason or None,
            provider_reference=payment.provider_txn_id or None,
            created_at=at(payment.created_at),
            updated_at=at(payment.updated_at),
        )


class MoneySent(View):
    """A send between two wallets: settled at once, both get an SMS."""

    id: str
    reference: str
    amount: Money
    to_phone: str
    to_name: str = Field(description="the recipient's first name and last initial, as USSD shows it")
    created_at: datetime

    @classmethod
    def of(cls, receipt: SendReceipt) -> MoneySent:
        payment = receipt.payment
        return cls(
            id=payment.id,
            reference=payment.reference,
            amount=Money.of(payment.amount_ngwee),
            to_phone=receipt.recipient_phone,
            to_name=receipt.recipient_name,
            created_at=at(payment.created_at),
        )
