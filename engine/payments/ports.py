"""What the payments context needs: mobile-money providers, and a database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from engine.identity.ports import UserReader, UserWriter
from engine.kernel.unit_of_work import RecordsEvents, Units
from engine.ledger.ports import LedgerReader, LedgerWriter
from engine.payments.model import Direction, Payment, PaymentOrder, Provider, ProviderStatus, SubmitOutcome


class PaymentProvider(Protocol):
    """One mobile-money operator's API. Adapters never raise for the provider's answers.

    A timeout, a refused connection or a 5xx is an answer too:
    :attr:`SubmitResult.UNKNOWN` from a submit, :attr:`ProviderState.UNKNOWN`
    from a status. The same ``attempt_id`` is sent on every retry.
    """

    @property
    def provider(self) -> Provider: ...

    async def request_payment(self, order: PaymentOrder) -> SubmitOutcome:
        """Ask the user, on their own handset, to approve paying ``order.amount_ngwee`` (a collection)."""
        ...

    async def pay_out(self, order: PaymentOrder) -> SubmitOutcome:
        """Send ``order.amount_ngwee`` to the user's mobile-money wallet (a disbursement)."""
        ...

    async def status(self, direction: Direction, attempt_id: str) -> ProviderStatus:
        """What the provider says about this attempt now."""
        ...


class ProviderDirectory(Protocol):
    """The providers this process can reach, by name."""

    def get(self, provider: Provider) -> PaymentProvider | None: ...


@dataclass(frozen=True, slots=True)
class MoneyMoved:
    """A user's payments since some moment, counting pending and successful ones (for limits)."""

    deposits: int = 0
    withdrawals: int = 0
    sent: int = 0
    pending_deposits: int = 0  # deposits not final yet: they may still land in the wallet

    @property
    def total(self) -> int:
        return self.deposits + self.withdrawals + self.sent


@dataclass(frozen=True, slots=True)
class ProviderTotals:
    """Successful deposits and withdrawals through one provider, as our payments record them."""

    provider: Provider
    deposits_ngwee: int
    deposits: int
    withdrawals_ngwee: int
    withdrawals: int


class PaymentReader(Protocol):
    async def payment_by_id(self, payment_id: str) -> Payment | None: ...

    async def payments_by_ids(self, payment_ids: Sequence[str]) -> dict[str, Payment]: ...

    async def payment_by_attempt(self, provider: Provider, attempt_id: str) -> Payment | None:
        """The payment ``provider`` knows by ``attempt_id`` (Airtel's callbacks name only that)."""
        ...

    async def payments_for_user(self, user_id: int, *, limit: int = 20, before_us: int | None = None) -> list[Payment]:
        """The user's payments (sends received included), newest first."""
        ...

    async def payments_in_review(self, *, limit: int = 50) -> list[Payment]:
        """Payments polling gave up on, oldest first."""
        ...

    async def payments_between(self, provider: Provider, *, since_us: int, until_us: int) -> list[Payment]:
        """One provider's payments created in [since, until), oldest first (to reconcile a statement)."""
        ...

    async def money_moved(self, user_id: int, *, since_us: int) -> MoneyMoved:
        """What ``user_id`` started since ``since_us`` and has not failed or expired."""
        ...

    async def senders_to(self, user_id: int, *, since_us: int) -> int:
        """How many different users sent money to ``user_id`` since ``since_us``."""
        ...

    async def withdrawals_succeeded(self, user_id: int) -> int:
        """How many withdrawals of ``user_id`` ever succeeded."""
        ...

    async def provider_totals(self, provider: Provider) -> ProviderTotals: ...

    async def count_payments(self) -> dict[str, int]:
        """How many payments are in each state (``review`` counted apart), for operators and metrics."""
        ...


class PaymentWriter(PaymentReader, Protocol):
    async def insert_payment(self, payment: Payment) -> bool:
        """False if a payment with that id exists already."""
        ...

    async def update_payment(self, payment: Payment) -> bool:
        """Store ``payment`` as ``payment.version + 1`` if the stored row is still at ``payment.version``.

        False when someone else changed it first (the caller reads it again).
        """
        ...

    async def claim_due_payments(self, *, now_us: int, lease_until_us: int, limit: int) -> list[Payment]:
        """Lease up to ``limit`` payments due at ``now_us`` (not final, not in review) to this worker.

        Each claimed row gets ``next_check_at = lease_until_us`` and a new
        version, in one statement; several processes never claim the same row
        (PostgreSQL: SKIP LOCKED; SQLite: the database write lock). A claim
        whose worker died becomes due again when the lease ends.
        """
        ...


class RiskSignals(Protocol):
    async def record_risk_signal(self, *, kind: str, user_id: int, detail: dict[str, str | int], at_us: int) -> None:
        """Append one signal for the risk engine (append-only)."""
        ...


class PaymentUnit(RecordsEvents, Protocol):
    """What the payments service touches inside one transaction."""

    @property
    def users(self) -> UserWriter: ...

    @property
    def ledger(self) -> LedgerWriter: ...

    @property
    def payments(self) -> PaymentWriter: ...

    @property
    def risk(self) -> RiskSignals: ...


class PaymentReads(Protocol):
    @property
    def users(self) -> UserReader: ...

    @property
    def ledger(self) -> LedgerReader: ...

    @property
    def payments(self) -> PaymentReader: ...


PaymentUnits = Units[PaymentUnit, PaymentReads]
