"""Payments: money moving between a wallet and a mobile-money provider, or between two wallets.

A payment is a state machine (:data:`TRANSITIONS`). The provider is the
truth about what happened to a deposit or a withdrawal; we only ever move
money after reading its status ourselves, and a payment whose outcome we do
not know (a timeout, a 5xx) stays UNKNOWN until the provider tells us: it is
asked again, or resubmitted under the same attempt id, never a new one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from engine.kernel.errors import IntegrityError


class Provider(enum.StrEnum):
    MTN = "mtn"
    AIRTEL = "airtel"
    ZAMTEL = "zamtel"
    WALLET = "wallet"  # a send between two of our wallets: no provider involved


MOBILE_MONEY = (Provider.MTN, Provider.AIRTEL, Provider.ZAMTEL)


class Direction(enum.StrEnum):
    DEPOSIT = "deposit"  # a collection: the provider debits the user's mobile money, we credit the wallet
    WITHDRAWAL = "withdrawal"  # a disbursement: we debit the wallet, the provider credits mobile money
    TRANSFER = "transfer"  # wallet to wallet, settled at once


class PaymentState(enum.StrEnum):
    CREATED = "created"  # stored, not yet sent to the provider
    SUBMITTED = "submitted"  # being sent now (a crash here is resolved by asking the status)
    PENDING = "pending"  # the provider accepted it and has not finished
    SUCCESSFUL = "successful"
    FAILED = "failed"
    EXPIRED = "expired"  # the user never approved in time
    UNKNOWN = "unknown"  # a submit timed out or met a 5xx: it may or may not exist at the provider

    @property
    def final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset({PaymentState.SUCCESSFUL, PaymentState.FAILED, PaymentState.EXPIRED})

TRANSITIONS: dict[PaymentState, frozenset[PaymentState]] = {
    PaymentState.CREATED: frozenset({PaymentState.SUBMITTED}),
    PaymentState.SUBMITTED: frozenset(
        {PaymentState.PENDING, PaymentState.UNKNOWN, PaymentState.SUBMITTED, *FINAL_STATES}
    ),
    PaymentState.PENDING: frozenset(FINAL_STATES),
    # From UNKNOWN: the status answers, or (never accepted) the same attempt is sent again.
    PaymentState.UNKNOWN: frozenset({PaymentState.SUBMITTED, PaymentState.PENDING, *FINAL_STATES}),
    PaymentState.SUCCESSFUL: frozenset(),
    PaymentState.FAILED: frozenset(),
    PaymentState.EXPIRED: frozenset(),
}


class FailureReason(enum.StrEnum):
    """Why a payment failed, provider-neutral (MTN's names, which Airtel's codes map onto)."""

    NOT_ENOUGH_FUNDS = "NOT_ENOUGH_FUNDS"
    PAYER_LIMIT_REACHED = "PAYER_LIMIT_REACHED"
    PAYEE_LIMIT_REACHED = "PAYEE_LIMIT_REACHED"
    APPROVAL_REJECTED = "APPROVAL_REJECTED"
    EXPIRED = "EXPIRED"
    PAYER_NOT_FOUND = "PAYER_NOT_FOUND"
    PAYEE_NOT_FOUND = "PAYEE_NOT_FOUND"
    NOT_ALLOWED = "NOT_ALLOWED"
    INVALID_AMOUNT = "INVALID_AMOUNT"
    INTERNAL_PROCESSING_ERROR = "INTERNAL_PROCESSING_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    COULD_NOT_PERFORM_TRANSACTION = "COULD_NOT_PERFORM_TRANSACTION"
    AMOUNT_MISMATCH = "AMOUNT_MISMATCH"  # the provider reports another amount: an operator decides
    RESOLVED_BY_OPERATOR = "RESOLVED_BY_OPERATOR"
    OTHER = "OTHER"

    @classmethod
    def of(cls, code: str) -> FailureReason:
        """The reason for any code a provider sends; unknown ones become OTHER (the raw text is kept apart)."""
        try:
            return cls(code.strip().upper())
        except ValueError:
            return cls.OTHER


class IllegalTransition(IntegrityError):
    code = "illegal_payment_transition"


@dataclass(frozen=True, slots=True)
class Payment:
    id: str  # our operation id: the idempotency key of the whole payment, and the providers' external id
    reference: str  # what people read (SMS, statements)
    direction: Direction
    provider: Provider
    user_id: int
    msisdn: str  # E.164: the mobile-money wallet debited or credited
    amount_ngwee: int
    state: PaymentState
    # The provider's X-Reference-Id (MTN) / transaction id (Airtel): a UUID v4, the same on
    # every retry of this payment, so a repeated submit is recognised as a repeat.
    attempt_id: str = ""
    counterparty_id: int | None = None  # the receiving user of a wallet-to-wallet send
    provider_txn_id: str = ""  # the provider's own transaction id, once it has one
    reason: str = ""  # a FailureReason once failed or expired
    reason_detail: str = ""  # the provider's own words, kept for operators
    created_at: int = 0
    updated_at: int = 0
    next_check_at: int = 0  # when the worker next looks at it (0: never again)
    checks: int = 0  # status checks so far (the backoff's step)
    review: bool = False  # polling gave up: an operator decides
    version: int = 0  # bumped on every change; updates are compare-and-set on it

    @property
    def final(self) -> bool:
        return self.state.final

    def moved_to(self, state: PaymentState, *, now_us: int, **changes: object) -> Payment:
        """This payment in ``state`` (raises :class:`IllegalTransition` for a move the machine forbids)."""
        if state is not self.state and state not in TRANSITIONS[self.state]:
            raise IllegalTransition(f"{self.id}: {self.state} -> {state}", payment=self.id)
        if state is self.state and state.final:
            raise IllegalTransition(f"{self.id}: already {state}", payment=self.id)
        return replace(self, state=state, updated_at=now_us, **changes)  # type: ignore[arg-type]

    def changed(self, *, now_us: int, **changes: object) -> Payment:
        """The same state with other fields changed (scheduling, review, the provider's id)."""
        return replace(self, updated_at=now_us, **changes)  # type: ignore[arg-type]

    # Ledger transfer ids derived from the payment id: a settlement applied twice applies once.
    @property
    def credit_transfer_id(self) -> str:
        return f"{self.id}:credit"

    @property
    def reserve_transfer_id(self) -> str:
        return f"{self.id}:reserve"

    @property
    def post_transfer_id(self) -> str:
        return f"{self.id}:post"

    @property
    def void_transfer_id(self) -> str:
        return f"{self.id}:void"


class ProviderState(enum.StrEnum):
    """What a provider says about one attempt, in our words."""

    PENDING = "pending"
    SUCCESSFUL = "successful"
    FAILED = "failed"
    EXPIRED = "expired"
    NOT_FOUND = "not_found"  # it never accepted this attempt id
    UNKNOWN = "unknown"  # no answer (timeout, 5xx, a body we cannot read)


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    state: ProviderState
    reason: str = ""  # a FailureReason value
    detail: str = ""
    provider_txn_id: str = ""
    amount_ngwee: int | None = None  # what the provider says moved, when it says


class SubmitResult(enum.StrEnum):
    ACCEPTED = "accepted"  # 202: now ask the status (or wait for the callback)
    DUPLICATE = "duplicate"  # 409: this attempt id was received before: ask the status
    REJECTED = "rejected"  # a 4xx that says it will never succeed (bad number, not allowed)
    UNKNOWN = "unknown"  # timeout or 5xx: it may or may not have been received


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    result: SubmitResult
    reason: str = ""  # a FailureReason value when rejected
    detail: str = ""


@dataclass(frozen=True, slots=True)
class PaymentOrder:
    """What a provider is asked to do: collect from, or pay out to, ``msisdn``."""

    attempt_id: str
    external_id: str  # our payment id: comes back in callbacks and statements
    msisdn: str  # E.164
    amount_ngwee: int
    note: str  # shown to the user by the provider (our reference)
