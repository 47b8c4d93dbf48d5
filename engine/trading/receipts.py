"""SMS receipts for trading: both parties of a trade or gift, the buyer of an offer, the seller of a refusal."""

from __future__ import annotations

from typing import TypeVar

from engine.kernel.config import EngineConfig
from engine.kernel.events import EventBus
from engine.notifications import outbox as notifications
from engine.notifications.ports import ReceiptContext
from engine.trading.events import OfferDeclined, OfferMade, TradeSettled

U = TypeVar("U", bound=ReceiptContext)


class TradingReceipts:
    def __init__(self, config: EngineConfig) -> None:
        self._config = config

    def subscribe(self, bus: EventBus[U]) -> None:
        bus.subscribe(TradeSettled, self.trade_settled)
        bus.subscribe(OfferMade, self.offer_made)
        bus.subscribe(OfferDeclined, self.offer_declined)

    async def trade_settled(self, event: TradeSettled, uow: ReceiptContext) -> None:
        """Each party's receipt carries their balances as they are after the trade."""
        seller, buyer = event.seller, event.buyer
        accounts = await uow.ledger.lookup_accounts(
            [seller.kwh_account_id, seller.zmw_account_id, buyer.kwh_account_id, buyer.zmw_account_id]
        )
        common: dict[str, str | int] = {
            "wh": event.wh,
            "ngwee": event.cost_ngwee,
            "fee": event.fee_ngwee,
            "ref": event.reference,
        }
        sold, bought = (
            (notifications.ENERGY_SENT, notifications.ENERGY_RECEIVED)
            if event.gift
            else (notifications.ENERGY_SOLD, notifications.ENERGY_BOUGHT)
        )
        # An offer's buyer already had an SMS under the role "buyer" (the offer itself).
        buyer_role = "buyer-receipt" if event.offer_id else "buyer"
        messages = [
            notifications.sms(
                event.operation_id,
                "seller",
                seller,
                sold,
                counterpart=buyer.phone,
                balance_wh=accounts[seller.kwh_account_id].available,
                balance_ngwee=accounts[seller.zmw_account_id].available,
                **common,
            ),
            notifications.sms(
                event.operation_id,
                buyer_role,
                buyer,
                bought,
                counterpart=seller.phone,
                balance_wh=accounts[buyer.kwh_account_id].available,
                balance_ngwee=accounts[buyer.zmw_account_id].available,
                **common,
            ),
        ]
        await notifications.queue(uow.outbox, messages, now_us=event.at_us, config=self._config)

    async def offer_made(self, event: OfferMade, uow: ReceiptContext) -> None:
        offer = event.offer
        message = notifications.sms(
            event.operation_id,
            "buyer",
            event.buyer,
            notifications.OFFER_RECEIVED,
            counterpart=event.seller.phone,
            name=event.seller.short_name,
            wh=offer.wh,
            ngwee=event.buyer_pays_ngwee,
            ref=offer.reference,
            hours=self._config.offer_ttl_s // 3600,
        )
        await notifications.queue(uow.outbox, [message], now_us=event.at_us, config=self._config)

    async def offer_declined(self, event: OfferDeclined, uow: ReceiptContext) -> None:
        offer = event.offer
        message = notifications.sms(
            event.operation_id,
            "seller-declined",
            event.seller,
            notifications.OFFER_DECLINED,
            counterpart=event.buyer_phone,
            wh=offer.wh,
            ref=offer.reference,
        )
        await notifications.queue(uow.outbox, [message], now_us=event.at_us, config=self._config)
