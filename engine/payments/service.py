"""Deposits and withdrawals through mobile money, as a user starts them and an operator oversees them.

Starting a payment is one short transaction (checks, the withdrawal's
reservation, the row in CREATED); talking to the provider comes after, in
:class:`~engine.payments.settlement.Settlement`, driven by whoever holds the
payment: the entry point right after starting it, a worker that claims due
payments, or a callback (a hint that the status is worth reading again).

A deposit needs no Enerlectra PIN (a stated exception): money only comes in,
and the provider asks the owner for their mobile-money PIN on their own
handset before anything moves. A withdrawal needs the PIN (a PinProof).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.identity.model import PinProof, User
from engine.identity.users import UserService, check_outflow
from engine.kernel.clock import MICROS_PER_SECOND, Clock
from engine.kernel.config import EngineConfig
from engine.kernel.errors import (
    IdempotencyConflict,
    InsufficientFunds,
    PaymentNotFinal,
    PaymentNotFound,
    PinNotVerified,
    ProviderUnavailable,
    UserNotFound,
)
from engine.kernel.references import reference_for
from engine.ledger.model import CreateTransferResult
from engine.payments import limits
from engine.payments.config import PaymentConfig
from engine.payments.events import LARGE_FIRST_WITHDRAWAL, RiskSignal
from engine.payments.model import (
    MOBILE_MONEY,
    Direction,
    FailureReason,
    Payment,
    PaymentState,
    Provider,
    ProviderState,
    ProviderStatus,
)
from engine.payments.ports import PaymentUnit, PaymentUnits, ProviderDirectory
from engine.payments.reconcile import ReconcileReport, StatementLine, reconcile
from engine.payments.settlement import Settlement, reservation


@dataclass(frozen=True, slots=True)
class Started:
    payment: Payment
    replayed: bool  # the same operation id was started before: this is that payment


class NoProviders:
    """A directory with no provider: payments cannot start (mobile money is switched off)."""

    def get(self, provider: Provider) -> None:
        return None


def new_payment_id(direction: Direction) -> str:
    return f"{direction.value[:3]}-{secrets.token_hex(12)}"


class PaymentService:
    def __init__(
        self,
        units: PaymentUnits,
        config: EngineConfig,
        payments: PaymentConfig,
        clock: Clock,
        users: UserService,
        providers: ProviderDirectory,
    ) -> None:
        self._units = units
        self._config = config
        self.config = payments
        self._clock = clock
        self._users = users
        self._providers = providers
        self.settlement = Settlement(units, payments, clock, providers)
        # Called with each payment just started (after its commit): the entry point's worker submits it
        # at once. Without one, the worker's next claim picks it up when the start's lease ends.
        self.on_started: Callable[[Payment], None] = lambda _payment: None

    # --- what a user starts -------------------------------------------------------

    def provider_for(self, user: User, provider: Provider | str | None = None) -> Provider:
        """The provider for ``user``'s number (or the one they chose), if we can reach it."""
        chosen = Provider(provider) if provider else self.config.provider_for(user.phone)
        if chosen is None or chosen not in MOBILE_MONEY or self._providers.get(chosen) is None:
            raise ProviderUnavailable("no mobile money provider for this number", provider=str(chosen or ""))
        return chosen

    async def deposit(
        self, user: User, amount_ngwee: int, *, provider: Provider | str | None = None, operation_id: str | None = None
    ) -> Started:
        """Start collecting ``amount_ngwee`` from ``user``'s mobile money (they approve on their handset)."""
        limits.check_amount(amount_ngwee, self.config)
        chosen = self.provider_for(user, provider)
        payment_id = operation_id or new_payment_id(Direction.DEPOSIT)
        now, offset = self._clock.now_us(), self._config.local_utc_offset_s

        async def work(uow: PaymentUnit) -> Started:
            owner = await self._lock(uow, user)
            payment = self._new(payment_id, Direction.DEPOSIT, chosen, owner, amount_ngwee, now)
            replay = await self._replay(uow, payment)
            if replay is not None:
                return replay
            month = await limits.check_outgoing_or_incoming(
                uow.payments, owner, amount_ngwee, self.config, now_us=now, offset_s=offset
            )
            await limits.check_balance_cap(
                uow.payments, uow.ledger, owner, amount_ngwee, self.config, now_us=now, offset_s=offset, month=month
            )
            await uow.payments.insert_payment(payment)
            return Started(payment, replayed=False)

        return self._started(await self._units.run(work))

    async def withdraw(
        self,
        proof: PinProof,
        user: User,
        amount_ngwee: int,
        *,
        provider: Provider | str | None = None,
        operation_id: str | None = None,
    ) -> Started:
        """Reserve ``amount_ngwee`` in ``user``'s wallet at once, to be paid out to their mobile money."""
        if not self._users.proof_is_valid(proof, user):
            raise PinNotVerified("withdrawal needs the owner's PIN")
        limits.check_amount(amount_ngwee, self.config)
        chosen = self.provider_for(user, provider)
        payment_id = operation_id or new_payment_id(Direction.WITHDRAWAL)
        now, offset = self._clock.now_us(), self._config.local_utc_offset_s

        async def work(uow: PaymentUnit) -> Started:
            owner = await self._lock(uow, user)
            payment = self._new(payment_id, Direction.WITHDRAWAL, chosen, owner, amount_ngwee, now)
            replay = await self._replay(uow, payment)
            if replay is not None:
                return replay
            check_outflow(owner, now, offset)  # held after a PIN reset (a SIM-swap pattern)
            await limits.check_outgoing_or_incoming(
                uow.payments, owner, amount_ngwee, self.config, now_us=now, offset_s=offset
            )
            (result,) = await uow.ledger.create_transfers([reservation(payment, owner)])
            if result is CreateTransferResult.EXCEEDS_CREDITS:
                raise InsufficientFunds("not enough money in the wallet", ngwee=amount_ngwee)
            if not result.applied:
                raise IdempotencyConflict("payment id reused with different details", result=str(result))
            if (
                amount_ngwee >= self.config.large_first_withdrawal_ngwee
                and not await uow.payments.withdrawals_succeeded(owner.id)
            ):
                detail: dict[str, str | int] = {"payment": payment.id, "ngwee": amount_ngwee}
                uow.record(
                    RiskSignal(
                        operation_id=payment.id, at_us=now, kind=LARGE_FIRST_WITHDRAWAL, user_id=owner.id, detail=detail
                    )
                )
            await uow.payments.insert_payment(payment)
            return Started(payment, replayed=False)

        return self._started(await self._units.run(work))

    def _started(self, started: Started) -> Started:
        if not started.payment.final and started.payment.state is PaymentState.CREATED:
            self.on_started(started.payment)
        return started

    def _new(
        self, payment_id: str, direction: Direction, provider: Provider, user: User, amount: int, now: int
    ) -> Payment:
        return Payment(
            id=payment_id,
            reference=reference_for(payment_id),
            direction=direction,
            provider=provider,
            user_id=user.id,
            msisdn=user.phone,
            amount_ngwee=amount,
            state=PaymentState.CREATED,
            attempt_id=str(uuid.uuid4()),
            created_at=now,
            updated_at=now,
            # Whoever starts it submits it now; the worker takes over only if that process dies.
            next_check_at=now + self.config.lease_s * MICROS_PER_SECOND,
        )

    async def _lock(self, uow: PaymentUnit, user: User) -> User:
        """The user's row, locked: limits and the reservation are checked against no concurrent payment."""
        owner = await uow.users.user_for_update(user.id)
        if owner is None:
            raise UserNotFound("user not registered")
        return owner

    async def _replay(self, uow: PaymentUnit, payment: Payment) -> Started | None:
        stored = await uow.payments.payment_by_id(payment.id)
        if stored is None:
            return None
        same = (stored.user_id, stored.direction, stored.amount_ngwee, stored.provider) == (
            payment.user_id,
            payment.direction,
            payment.amount_ngwee,
            payment.provider,
        )
        if not same:
            raise IdempotencyConflict("payment id reused with different details")
        return Started(stored, replayed=True)

    # --- moving payments on -------------------------------------------------------

    async def advance(self, payment: Payment) -> Payment:
        """One step with the provider for a payment this process holds (just started, or claimed)."""
        return await self.settlement.advance(payment)

    async def claim_due(self, *, limit: int = 50) -> list[Payment]:
        """Lease the payments due for a step to this process (several processes never share one)."""
        now = self._clock.now_us()
        lease = now + self.config.lease_s * MICROS_PER_SECOND

        async def work(uow: PaymentUnit) -> list[Payment]:
            return await uow.payments.claim_due_payments(now_us=now, lease_until_us=lease, limit=limit)

        return await self._units.run(work)

    async def hint(self, provider: Provider, callback_id: str) -> Payment | None:
        """A provider's callback named a payment: the payment to check now (its status is read, not believed).

        ``callback_id`` is our payment id (MTN's ``externalId``) or the attempt id (Airtel's
        ``transaction.id``, the only id its callbacks carry). None when there is nothing to
        do: an unknown id, another provider's payment, one already final or waiting for an
        operator. Only reads: a callback costs no write, and if the check it starts is lost
        (the process dies), the polling schedule still comes round.
        """
        reads = self._units.reads.payments
        payment = await reads.payment_by_id(callback_id) or await reads.payment_by_attempt(provider, callback_id)
        if payment is None or payment.provider is not provider:
            return None
        if payment.final or payment.review or payment.direction is Direction.TRANSFER:
            return None
        return payment

    # --- reading ------------------------------------------------------------------

    async def get(self, payment_id: str) -> Payment:
        payment = await self._units.reads.payments.payment_by_id(payment_id)
        if payment is None:
            raise PaymentNotFound("no such payment", payment=payment_id)
        return payment

    async def history(self, user: User, *, limit: int = 20, before_us: int | None = None) -> list[Payment]:
        return await self._units.reads.payments.payments_for_user(user.id, limit=limit, before_us=before_us)

    async def review_queue(self, *, limit: int = 50) -> list[Payment]:
        return await self._units.reads.payments.payments_in_review(limit=limit)

    async def counts(self) -> dict[str, int]:
        return await self._units.reads.payments.count_payments()

    async def reconcile(
        self, provider: Provider, lines: Sequence[StatementLine], *, since_us: int = 0, until_us: int | None = None
    ) -> ReconcileReport:
        """A provider's statement against our payments, and our ledger against them (see engine.payments.reconcile)."""
        reads = self._units.reads
        until = self._clock.now_us() + 1 if until_us is None else until_us
        return await reconcile(reads.payments, reads.ledger, provider, lines, since_us=since_us, until_us=until)

    # --- operators ------------------------------------------------------------------

    async def recheck(self, payment_id: str) -> Payment:
        """Ask the provider again now, whatever the schedule (a payment in review leaves it if answered)."""
        payment = await self.get(payment_id)
        if payment.final:
            return payment
        provider = self._providers.get(payment.provider)
        if provider is None:
            raise ProviderUnavailable("provider not configured", provider=str(payment.provider))
        status = await provider.status(payment.direction, payment.attempt_id)
        if status.state in (ProviderState.SUCCESSFUL, ProviderState.FAILED, ProviderState.EXPIRED):
            return await self.settlement.apply(payment, status)
        return payment

    async def resolve(self, payment_id: str, outcome: PaymentState, note: str) -> Payment:
        """An operator's decision for a payment the provider never settled, after checking with them.

        ``outcome`` SUCCESSFUL credits a deposit or pays out a withdrawal's
        reservation; FAILED releases it. The note is kept on the payment.
        """
        payment = await self.get(payment_id)
        if payment.final:
            raise PaymentNotFinal("payment already ended", state=str(payment.state))
        if outcome not in (PaymentState.SUCCESSFUL, PaymentState.FAILED):
            raise PaymentNotFinal("an operator resolves to successful or failed", state=str(outcome))
        state = ProviderState.SUCCESSFUL if outcome is PaymentState.SUCCESSFUL else ProviderState.FAILED
        status = ProviderStatus(state, reason=FailureReason.RESOLVED_BY_OPERATOR, detail=note)
        return await self.settlement.apply(payment, status, note=f"operator: {note}")
