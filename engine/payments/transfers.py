"""Sending Kwacha from one wallet to another: with the sender's PIN, at once, within both users' limits."""

from __future__ import annotations

from dataclasses import dataclass

from engine.identity.model import PinProof, User
from engine.identity.users import UserService, check_outflow
from engine.kernel.clock import Clock
from engine.kernel.config import EngineConfig
from engine.kernel.errors import (
    CounterpartyNotFound,
    EnerlectraError,
    IdempotencyConflict,
    InsufficientFunds,
    PinNotVerified,
    SelfTrade,
    UserNotFound,
)
from engine.kernel.local_time import local_day_start_us
from engine.kernel.phones import require_zambian_mobile
from engine.kernel.references import reference_for
from engine.ledger.model import CreateTransferResult, Ledger, Transfer, TransferCode
from engine.ledger.operations import apply_operation, new_operation_id
from engine.payments import limits
from engine.payments.config import PaymentConfig
from engine.payments.events import MANY_SENDERS, MoneySent, RiskSignal
from engine.payments.model import Direction, Payment, PaymentState, Provider
from engine.payments.ports import PaymentUnit, PaymentUnits


@dataclass(frozen=True, slots=True)
class SendReceipt:
    payment: Payment
    recipient_phone: str
    recipient_name: str  # short (``Chipo P.``), as the sender may see it
    replayed: bool


class MoneyTransfers:
    def __init__(
        self, units: PaymentUnits, config: EngineConfig, payments: PaymentConfig, clock: Clock, users: UserService
    ) -> None:
        self._units = units
        self._config = config
        self._payments = payments
        self._clock = clock
        self._users = users

    async def send(
        self,
        proof: PinProof,
        sender: User,
        recipient_phone: str,
        amount_ngwee: int,
        *,
        operation_id: str | None = None,
    ) -> SendReceipt:
        """Move ``amount_ngwee`` from ``sender``'s wallet to the wallet registered to ``recipient_phone``.

        Idempotent on ``operation_id``: repeating it returns the first receipt.
        """
        if not self._users.proof_is_valid(proof, sender):
            raise PinNotVerified("sending money needs the owner's PIN")
        recipient_phone = require_zambian_mobile(recipient_phone)
        if recipient_phone == sender.phone:
            raise SelfTrade("cannot send money to yourself")
        limits.check_amount(amount_ngwee, self._payments)
        operation = operation_id or new_operation_id()
        now, offset = self._clock.now_us(), self._config.local_utc_offset_s

        async def work(uow: PaymentUnit) -> SendReceipt:
            owner = await uow.users.user_for_update(sender.id)
            if owner is None:
                raise UserNotFound("sender not registered")
            recipient = await uow.users.user_by_phone(recipient_phone)
            if recipient is None:
                raise CounterpartyNotFound("the other number is not registered", counterpart=recipient_phone)
            payment = Payment(
                id=operation,
                reference=reference_for(operation),
                direction=Direction.TRANSFER,
                provider=Provider.WALLET,
                user_id=owner.id,
                msisdn=owner.phone,
                amount_ngwee=amount_ngwee,
                state=PaymentState.SUCCESSFUL,
                counterparty_id=recipient.id,
                created_at=now,
                updated_at=now,
            )
            stored = await uow.payments.payment_by_id(operation)
            if stored is not None:
                if (stored.user_id, stored.counterparty_id, stored.amount_ngwee) != (
                    owner.id,
                    recipient.id,
                    amount_ngwee,
                ):
                    raise IdempotencyConflict("operation id reused with different details")
                return SendReceipt(stored, recipient.phone, recipient.short_name, replayed=True)
            check_outflow(owner, now, offset)
            await limits.check_outgoing_or_incoming(
                uow.payments, owner, amount_ngwee, self._payments, now_us=now, offset_s=offset
            )
            await limits.check_balance_cap(
                uow.payments,
                uow.ledger,
                recipient,
                amount_ngwee,
                self._payments,
                now_us=now,
                offset_s=offset,
                kind="recipient_balance",
            )
            transfer = Transfer(
                id=f"{operation}:send",
                debit_account_id=owner.zmw_account_id,
                credit_account_id=recipient.zmw_account_id,
                amount=amount_ngwee,
                ledger=Ledger.ZMW,
                code=TransferCode.MONEY_TRANSFER,
                reference=payment.reference,
            )

            def refusal(_index: int, result: CreateTransferResult) -> EnerlectraError | None:
                if result is CreateTransferResult.EXCEEDS_CREDITS:
                    return InsufficientFunds("not enough money in the wallet", ngwee=amount_ngwee)
                return None

            await apply_operation(uow.ledger, [transfer], refusal)
            await uow.payments.insert_payment(payment)
            uow.record(MoneySent(operation_id=operation, at_us=now, payment=payment, sender=owner, recipient=recipient))
            senders = await uow.payments.senders_to(recipient.id, since_us=local_day_start_us(now, offset))
            if senders >= self._payments.many_senders:
                detail: dict[str, str | int] = {"senders_today": senders, "payment": operation}
                uow.record(
                    RiskSignal(
                        operation_id=operation, at_us=now, kind=MANY_SENDERS, user_id=recipient.id, detail=detail
                    )
                )
            return SendReceipt(payment, recipient.phone, recipient.short_name, replayed=False)

        return await self._units.run(work)
