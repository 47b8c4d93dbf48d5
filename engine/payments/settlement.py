"""Moving a payment to its end: submit it, ask the provider, and move money only on the provider's word.

Every step is a compare-and-set on the payment's version, so two processes
(a worker's poll and a callback's check) acting on one payment at once
cannot both win: the loser reads it again and finds the work done. Money
moves in the same transaction as the state that says so, under transfer ids
derived from the payment id, so a settlement applied twice applies once.

The provider is reached outside any transaction: a unit of work may run
again after a conflict, and an HTTP call inside one would be sent again.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from engine.identity.model import User
from engine.kernel.clock import MICROS_PER_SECOND, Clock
from engine.kernel.errors import IntegrityError, UserNotFound
from engine.ledger.model import Ledger, Transfer, TransferCode, TransferFlags
from engine.payments.accounts import clearing_account
from engine.payments.config import PaymentConfig
from engine.payments.events import PaymentDelayed, PaymentFailed, PaymentSucceeded
from engine.payments.model import (
    Direction,
    FailureReason,
    Payment,
    PaymentOrder,
    PaymentState,
    ProviderState,
    ProviderStatus,
    SubmitOutcome,
    SubmitResult,
)
from engine.payments.ports import PaymentProvider, PaymentUnit, PaymentUnits, ProviderDirectory

log = logging.getLogger("enerlectra.payments")
# A step that loses a compare-and-set applies its news to the payment as stored, this many times at most.
_CAS_TRIES = 3

_FINAL_OF = {
    ProviderState.SUCCESSFUL: PaymentState.SUCCESSFUL,
    ProviderState.FAILED: PaymentState.FAILED,
    ProviderState.EXPIRED: PaymentState.EXPIRED,
}


class Settlement:
    def __init__(self, units: PaymentUnits, config: PaymentConfig, clock: Clock, providers: ProviderDirectory) -> None:
        self._units = units
        self._config = config
        self._clock = clock
        self._providers = providers

    # --- one step -------------------------------------------------------------

    async def advance(self, payment: Payment) -> Payment:
        """Take ``payment`` (as this process holds it) one step further; returns it as stored after.

        CREATED is submitted; SUBMITTED (a crash mid-submit) and UNKNOWN ask the
        status first and resubmit the same attempt only if the provider never
        received it; PENDING asks the status.
        """
        if payment.final or payment.review or payment.direction is Direction.TRANSFER:
            return payment
        provider = self._providers.get(payment.provider)
        if provider is None:  # configuration changed under a live payment: keep it, ask later
            return await self._reschedule(payment) or await self._current(payment)
        if payment.state is PaymentState.CREATED:
            return await self._submit(provider, payment)
        status = await provider.status(payment.direction, payment.attempt_id)
        if status.state is ProviderState.NOT_FOUND and payment.state in (PaymentState.SUBMITTED, PaymentState.UNKNOWN):
            return await self._submit(provider, payment)
        return await self.apply(payment, status)

    async def _submit(self, provider: PaymentProvider, payment: Payment) -> Payment:
        now = self._clock.now_us()
        # Written before the call: a crash from here on leaves SUBMITTED, which the worker resolves by
        # asking the status (and resubmits under the same attempt id only if it was never received).
        submitted = payment.moved_to(PaymentState.SUBMITTED, now_us=now, next_check_at=now + self._lease_us())
        stored = await self._save(submitted)
        if stored is None:
            return await self._current(payment)
        order = PaymentOrder(
            attempt_id=stored.attempt_id,
            external_id=stored.id,
            msisdn=stored.msisdn,
            amount_ngwee=stored.amount_ngwee,
            note=f"{self._config.note} {stored.reference}",
        )
        if stored.direction is Direction.DEPOSIT:
            outcome = await provider.request_payment(order)
        else:
            outcome = await provider.pay_out(order)
        return await self._submitted(provider, stored, outcome)

    async def _submitted(self, provider: PaymentProvider, payment: Payment, outcome: SubmitOutcome) -> Payment:
        if outcome.result is SubmitResult.DUPLICATE:  # the provider has it already: its status is the answer
            return await self.apply(payment, await provider.status(payment.direction, payment.attempt_id))
        if outcome.result is SubmitResult.REJECTED:
            reason = outcome.reason or FailureReason.OTHER
            failed = ProviderStatus(ProviderState.FAILED, reason=reason, detail=outcome.detail)
            return await self.apply(payment, failed)
        state = PaymentState.PENDING if outcome.result is SubmitResult.ACCEPTED else PaymentState.UNKNOWN
        now = self._clock.now_us()
        moved = payment.moved_to(state, now_us=now, next_check_at=self._next_check(payment, now))
        return await self._save(moved) or await self._current(payment)

    # --- the provider's word --------------------------------------------------

    async def apply(self, payment: Payment, status: ProviderStatus, *, note: str = "") -> Payment:
        """Bring ``payment`` in line with what the provider says (money moves only on a final answer).

        ``payment`` may be stale (a callback's read, a claim another step overtook): when the
        compare-and-set loses, the provider's word is applied to the payment as it is now,
        unless that has ended meanwhile.
        """
        for _ in range(_CAS_TRIES):
            applied = await self._apply_once(payment, status, note)
            if applied is not None:
                return applied
            payment = await self._current(payment)
            if payment.final or payment.review:
                break
        return payment

    async def _apply_once(self, payment: Payment, status: ProviderStatus, note: str) -> Payment | None:
        final = _FINAL_OF.get(status.state)
        if final is None:  # PENDING, UNKNOWN, or NOT_FOUND for something it accepted: keep asking
            state = payment.state
            if status.state is ProviderState.PENDING:
                state = PaymentState.PENDING
            elif payment.state is PaymentState.SUBMITTED:
                state = PaymentState.UNKNOWN
            if status.state is ProviderState.NOT_FOUND:
                log.warning("payment %s: %s says it never received it", payment.id, payment.provider)
            return await self._reschedule(payment, state=state)
        if (
            final is PaymentState.SUCCESSFUL
            and status.amount_ngwee is not None
            and status.amount_ngwee != payment.amount_ngwee
        ):
            log.error(
                "payment %s: provider reports %s ngwee, we asked %s",
                payment.id,
                status.amount_ngwee,
                payment.amount_ngwee,
            )
            return await self._to_review(
                payment, FailureReason.AMOUNT_MISMATCH, f"provider amount {status.amount_ngwee}"
            )
        return await self._finish(payment, final, status, note)

    async def _finish(self, payment: Payment, final: PaymentState, status: ProviderStatus, note: str) -> Payment | None:
        now = self._clock.now_us()
        reason = "" if final is PaymentState.SUCCESSFUL else (status.reason or FailureReason.OTHER)
        if final is PaymentState.EXPIRED and not status.reason:
            reason = FailureReason.EXPIRED
        ended = payment.moved_to(
            final,
            now_us=now,
            next_check_at=0,
            review=False,
            reason=str(reason),
            reason_detail=note or status.detail,
            provider_txn_id=status.provider_txn_id or payment.provider_txn_id,
        )

        async def work(uow: PaymentUnit) -> Payment | None:
            if not await uow.payments.update_payment(ended):
                return None
            user = await uow.users.user_by_id(payment.user_id)
            if user is None:
                raise UserNotFound("payment owner missing", user_id=payment.user_id)
            if _moves_money(ended):
                transfer = settlement_transfer(ended, user)
                (result,) = await uow.ledger.create_transfers([transfer])
                if not result.applied:  # e.g. a reservation already released: never paper over it
                    raise IntegrityError(f"settling {ended.id}: {result}", payment=ended.id, result=str(result))
            event = PaymentSucceeded if final is PaymentState.SUCCESSFUL else PaymentFailed
            uow.record(event(operation_id=ended.id, at_us=now, payment=ended, user=user))
            return ended

        return await self._units.run(work)

    async def _to_review(self, payment: Payment, reason: str, detail: str) -> Payment | None:
        now = self._clock.now_us()
        held = payment.changed(now_us=now, review=True, next_check_at=0, reason=str(reason), reason_detail=detail)

        async def work(uow: PaymentUnit) -> Payment | None:
            if not await uow.payments.update_payment(held):
                return None
            user = await uow.users.user_by_id(payment.user_id)
            if user is not None:
                uow.record(PaymentDelayed(operation_id=payment.id, at_us=now, payment=held, user=user))
            return held

        return await self._units.run(work)

    async def _reschedule(self, payment: Payment, *, state: PaymentState | None = None) -> Payment | None:
        now = self._clock.now_us()
        if now - payment.created_at >= self._config.give_up_after_s * MICROS_PER_SECOND:
            return await self._to_review(payment, payment.reason, "no final answer from the provider in time")
        target = state or payment.state
        changes: dict[str, object] = {"next_check_at": self._next_check(payment, now), "checks": payment.checks + 1}
        moved = (
            payment.moved_to(target, now_us=now, **changes)
            if target is not payment.state
            else payment.changed(now_us=now, **changes)
        )
        return await self._save(moved) or await self._current(payment)

    # --- helpers ----------------------------------------------------------------

    def _lease_us(self) -> int:
        return self._config.lease_s * MICROS_PER_SECOND

    def _next_check(self, payment: Payment, now_us: int) -> int:
        return now_us + self._config.next_check_delay_s(payment.checks) * MICROS_PER_SECOND

    async def _save(self, payment: Payment) -> Payment | None:
        """Store ``payment`` if nobody changed it since it was read; None if someone did."""

        async def work(uow: PaymentUnit) -> bool:
            return await uow.payments.update_payment(payment)

        if await self._units.run(work):
            return _bumped(payment)
        return None

    async def _current(self, payment: Payment) -> Payment:
        stored = await self._units.reads.payments.payment_by_id(payment.id)
        if stored is None:
            raise IntegrityError(f"payment {payment.id} vanished", payment=payment.id)
        return stored


def _bumped(payment: Payment) -> Payment:
    return replace(payment, version=payment.version + 1)


def _moves_money(payment: Payment) -> bool:
    return payment.direction is Direction.WITHDRAWAL or payment.state is PaymentState.SUCCESSFUL


def settlement_transfer(payment: Payment, user: User) -> Transfer:
    """The one ledger entry that settles ``payment`` in its final state."""
    if payment.direction is Direction.DEPOSIT:
        return Transfer(
            id=payment.credit_transfer_id,
            debit_account_id=clearing_account(payment.provider),
            credit_account_id=user.zmw_account_id,
            amount=payment.amount_ngwee,
            ledger=Ledger.ZMW,
            code=TransferCode.DEPOSIT,
            reference=payment.reference,
        )
    if payment.state is PaymentState.SUCCESSFUL:
        return Transfer(
            id=payment.post_transfer_id,
            pending_id=payment.reserve_transfer_id,
            flags=TransferFlags.POST_PENDING,
            code=TransferCode.WITHDRAWAL,
            reference=payment.reference,
        )
    return Transfer(
        id=payment.void_transfer_id,
        pending_id=payment.reserve_transfer_id,
        flags=TransferFlags.VOID_PENDING,
        code=TransferCode.WITHDRAWAL,
        reference=payment.reference,
    )


def reservation(payment: Payment, user: User) -> Transfer:
    """A withdrawal's money held at once (never expiring: it is released only on the provider's word)."""
    return Transfer(
        id=payment.reserve_transfer_id,
        debit_account_id=user.zmw_account_id,
        credit_account_id=clearing_account(payment.provider),
        amount=payment.amount_ngwee,
        ledger=Ledger.ZMW,
        code=TransferCode.WITHDRAWAL,
        flags=TransferFlags.PENDING,
        reference=payment.reference,
    )
