"""SMS for payments: a deposit credited or not, a withdrawal paid or released, a delay, a send to both sides.

Each carries our reference, and the provider's once it has one, so a user
can quote either to an agent; and the balance as it is after the payment.
"""

from __future__ import annotations

from typing import TypeVar

from engine.identity.model import User
from engine.kernel.config import EngineConfig
from engine.kernel.events import EventBus
from engine.notifications import outbox as notifications
from engine.notifications.ports import ReceiptContext
from engine.payments.events import MoneySent, PaymentDelayed, PaymentFailed, PaymentSucceeded
from engine.payments.model import Direction, FailureReason, Payment

U = TypeVar("U", bound=ReceiptContext)

# Why a payment failed, as a number the catalogs choose a wording by (``why``); 0: said in general.
WHY: dict[str, int] = {
    FailureReason.NOT_ENOUGH_FUNDS: 1,
    FailureReason.APPROVAL_REJECTED: 2,
    FailureReason.EXPIRED: 3,
    FailureReason.PAYER_LIMIT_REACHED: 4,
    FailureReason.PAYEE_LIMIT_REACHED: 4,
    FailureReason.PAYER_NOT_FOUND: 5,
    FailureReason.PAYEE_NOT_FOUND: 5,
}


class PaymentReceipts:
    def __init__(self, config: EngineConfig) -> None:
        self._config = config

    def subscribe(self, bus: EventBus[U]) -> None:
        bus.subscribe(PaymentSucceeded, self.succeeded)
        bus.subscribe(PaymentFailed, self.failed)
        bus.subscribe(PaymentDelayed, self.delayed)
        bus.subscribe(MoneySent, self.sent)

    async def _balance(self, uow: ReceiptContext, user: User) -> int:
        accounts = await uow.ledger.lookup_accounts([user.zmw_account_id])
        return accounts[user.zmw_account_id].available

    async def _queue(
        self, uow: ReceiptContext, payment: Payment, user: User, role: str, template: str, at_us: int
    ) -> None:
        message = notifications.sms(
            payment.id,
            role,
            user,
            template,
            ngwee=payment.amount_ngwee,
            ref=payment.reference,
            provider=str(payment.provider),
            provider_ref=payment.provider_txn_id,
            has_provider_ref=1 if payment.provider_txn_id else 0,  # none after an operator's decision
            why=WHY.get(payment.reason, 0),
            reason=payment.reason,
            balance_ngwee=await self._balance(uow, user),
        )
        await notifications.queue(uow.outbox, [message], now_us=at_us, config=self._config)

    async def succeeded(self, event: PaymentSucceeded, uow: ReceiptContext) -> None:
        template = (
            notifications.DEPOSIT_RECEIVED
            if event.payment.direction is Direction.DEPOSIT
            else notifications.WITHDRAWAL_PAID
        )
        await self._queue(uow, event.payment, event.user, "owner", template, event.at_us)

    async def failed(self, event: PaymentFailed, uow: ReceiptContext) -> None:
        template = (
            notifications.DEPOSIT_FAILED
            if event.payment.direction is Direction.DEPOSIT
            else notifications.WITHDRAWAL_FAILED
        )
        await self._queue(uow, event.payment, event.user, "owner", template, event.at_us)

    async def delayed(self, event: PaymentDelayed, uow: ReceiptContext) -> None:
        # Keyed apart from the final receipt: the user hears about the delay, then about the end.
        await self._queue(uow, event.payment, event.user, "delayed", notifications.PAYMENT_DELAYED, event.at_us)

    async def sent(self, event: MoneySent, uow: ReceiptContext) -> None:
        payment, sender, recipient = event.payment, event.sender, event.recipient
        accounts = await uow.ledger.lookup_accounts([sender.zmw_account_id, recipient.zmw_account_id])
        common: dict[str, str | int] = {"ngwee": payment.amount_ngwee, "ref": payment.reference}
        messages = [
            notifications.sms(
                payment.id,
                "sender",
                sender,
                notifications.MONEY_SENT,
                counterpart=recipient.phone,
                name=recipient.short_name,
                balance_ngwee=accounts[sender.zmw_account_id].available,
                **common,
            ),
            notifications.sms(
                payment.id,
                "recipient",
                recipient,
                notifications.MONEY_RECEIVED,
                counterpart=sender.phone,
                name=sender.short_name,
                balance_ngwee=accounts[recipient.zmw_account_id].available,
                **common,
            ),
        ]
        await notifications.queue(uow.outbox, messages, now_us=event.at_us, config=self._config)
