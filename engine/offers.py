"""Selling energy to a neighbour: an offer the buyer accepts with their own PIN.

The seller's kWh are reserved at once (a pending transfer with a timeout), so
an offer cannot be sold twice; the buyer's money moves only when the buyer
accepts. Declining or letting it expire releases the reservation. A gift
(price 0) needs no consent and goes through :meth:`TradingService.trade`.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine import daily_caps, notifications
from engine.clock import MICROS_PER_SECOND, Clock
from engine.config import EngineConfig
from engine.errors import (
    EnerlectraError,
    InsufficientEnergy,
    InsufficientFunds,
    InvalidPrice,
    OfferClosed,
    OfferExpired,
    OfferNotFound,
    TooManyOpenOffers,
    UserNotFound,
)
from engine.ledger.model import CreateTransferResult, Ledger, Transfer, TransferCode, TransferFlags
from engine.model import Offer, OfferStatus, User
from engine.operations import apply_operation, new_operation_id
from engine.ports import Store, Transaction
from engine.references import reference_for
from engine.trading import (
    TradeQuote,
    TradeReceipt,
    TradingService,
    counterpart_phone,
    payment_transfers,
    trading_parties,
)
from engine.users import check_outflow

R = CreateTransferResult


@dataclass(frozen=True, slots=True)
class OfferView:
    offer: Offer
    seller_name: str  # first name and last initial (User.short_name)
    seller_phone: str


class OfferService:
    def __init__(self, store: Store, config: EngineConfig, clock: Clock, trading: TradingService) -> None:
        self._store = store
        self._config = config
        self._clock = clock
        self._trading = trading

    async def offer(
        self,
        *,
        seller: User,
        buyer_phone: str,
        wh: int,
        price_ngwee_per_kwh: int | None = None,
        operation_id: str | None = None,
    ) -> Offer:
        """Reserve ``wh`` of the seller's energy for the buyer, who is told by SMS."""
        buyer_phone = counterpart_phone(seller, buyer_phone)
        quote = self._trading.quote(wh, price_ngwee_per_kwh)
        if quote.price_ngwee_per_kwh == 0:
            raise InvalidPrice("a gift needs no offer: send it")
        operation = operation_id or new_operation_id()
        reference = reference_for(operation)

        async def work(tx: Transaction) -> Offer:
            seller_now, buyer = await trading_parties(tx, seller, buyer_phone)
            now = self._clock.now_us()
            check_outflow(seller_now, now, self._config.local_utc_offset_s)
            reserve = Transfer(
                id=f"{operation}:energy",
                debit_account_id=seller_now.kwh_account_id,
                credit_account_id=buyer.kwh_account_id,
                amount=quote.wh,
                ledger=Ledger.KWH,
                code=TransferCode.ENERGY_TRADE,
                flags=TransferFlags.PENDING,
                timeout_s=self._config.offer_ttl_s,
                reference=reference,
            )

            def refusal(_i: int, result: R) -> EnerlectraError | None:
                return InsufficientEnergy("not enough energy", wh=quote.wh) if result is R.EXCEEDS_CREDITS else None

            if await apply_operation(tx, [reserve], refusal):
                existing = await tx.offer_by_id(operation)
                if existing is not None:
                    return existing
            # Caps are checked once the reservation applied (a replay above uses none); raising rolls it back.
            most = self._config.max_open_offers_per_pair
            if await tx.count_open_offers(seller_now.id, buyer.id, now_us=now) >= most:
                raise TooManyOpenOffers("too many open offers to this buyer", max=most)
            limit, offset = self._config.offers_per_day, self._config.local_utc_offset_s
            await daily_caps.use(tx, seller_now.id, daily_caps.Cap.OFFERS, limit, now_us=now, offset_s=offset)
            offer = Offer(
                id=operation,
                reference=reference,
                seller_id=seller_now.id,
                buyer_id=buyer.id,
                wh=quote.wh,
                price_ngwee_per_kwh=quote.price_ngwee_per_kwh,
                cost_ngwee=quote.cost_ngwee,
                fee_ngwee=quote.fee_ngwee,
                status=OfferStatus.OPEN,
                created_at=now,
                expires_at=now + self._config.offer_ttl_s * MICROS_PER_SECOND,
            )
            await tx.insert_offer(offer)
            await notifications.queue(
                tx,
                [
                    notifications.sms(
                        operation,
                        "buyer",
                        buyer,
                        notifications.OFFER_RECEIVED,
                        counterpart=seller_now.phone,
                        name=seller_now.short_name,
                        wh=quote.wh,
                        ngwee=quote.buyer_pays,
                        ref=reference,
                        hours=self._config.offer_ttl_s // 3600,
                    )
                ],
                now_us=now,
                config=self._config,
            )
            return offer

        return await self._store.atomic(work)

    async def open_offers(self, buyer: User) -> list[OfferView]:
        offers = await self._store.open_offers_for(buyer.id, now_us=self._clock.now_us())
        views = []
        for offer in offers:
            seller = await self._store.user_by_id(offer.seller_id)
            if seller is not None:
                views.append(OfferView(offer, seller.short_name, seller.phone))
        return views

    async def _mine(self, tx: Transaction, buyer: User, offer_id: str) -> Offer:
        offer = await tx.offer_by_id(offer_id)
        if offer is None or offer.buyer_id != buyer.id:
            raise OfferNotFound("no such offer for you")
        if offer.status is OfferStatus.DECLINED:
            raise OfferClosed("offer declined already")
        if offer.status is OfferStatus.OPEN and self._clock.now_us() >= offer.expires_at:
            raise OfferExpired("offer expired")
        return offer

    async def accept(self, *, buyer: User, offer_id: str) -> TradeReceipt:
        """Take the reserved energy and pay for it; repeating an accepted offer returns its receipt."""

        async def work(tx: Transaction) -> TradeReceipt:
            offer = await self._mine(tx, buyer, offer_id)
            seller = await tx.user_by_id(offer.seller_id)
            payer = await tx.user_by_id(buyer.id)
            if seller is None or payer is None:
                raise UserNotFound("a party is no longer registered")
            if offer.status is OfferStatus.OPEN:  # paying leaves the wallet (an accepted offer replays freely)
                check_outflow(payer, self._clock.now_us(), self._config.local_utc_offset_s)
            transfers = [
                Transfer(
                    id=f"{offer.id}:accept",
                    flags=TransferFlags.POST_PENDING,
                    pending_id=offer.reservation_id,
                    code=TransferCode.ENERGY_TRADE,
                    reference=offer.reference,
                ),
                *payment_transfers(offer.id, payer, seller, offer.cost_ngwee, offer.fee_ngwee, offer.reference),
            ]

            def refusal(index: int, result: R) -> EnerlectraError | None:
                if result is R.PENDING_TRANSFER_EXPIRED:
                    return OfferExpired("offer expired")
                if result in (R.PENDING_TRANSFER_ALREADY_VOIDED, R.PENDING_TRANSFER_ALREADY_POSTED):
                    return OfferClosed("offer closed")
                if index > 0 and result is R.EXCEEDS_CREDITS:
                    return InsufficientFunds("not enough money", ngwee=offer.cost_ngwee + offer.fee_ngwee)
                return None

            replayed = await apply_operation(tx, transfers, refusal)
            quote = TradeQuote(offer.wh, offer.price_ngwee_per_kwh, offer.cost_ngwee, offer.fee_ngwee)
            if not replayed:
                await tx.close_offer(offer.id, OfferStatus.ACCEPTED)
                await self._receipts(tx, offer, seller, payer)
            return TradeReceipt(offer.reference, quote, seller.phone, payer.phone, replayed)

        return await self._store.atomic(work)

    async def _receipts(self, tx: Transaction, offer: Offer, seller: User, buyer: User) -> None:
        accounts = await tx.lookup_accounts(
            [seller.kwh_account_id, seller.zmw_account_id, buyer.kwh_account_id, buyer.zmw_account_id]
        )
        common: dict[str, str | int] = {
            "wh": offer.wh,
            "ngwee": offer.cost_ngwee,
            "fee": offer.fee_ngwee,
            "ref": offer.reference,
        }
        await notifications.queue(
            tx,
            [
                notifications.sms(
                    offer.id,
                    "seller",
                    seller,
                    notifications.ENERGY_SOLD,
                    counterpart=buyer.phone,
                    balance_wh=accounts[seller.kwh_account_id].available,
                    balance_ngwee=accounts[seller.zmw_account_id].available,
                    **common,
                ),
                notifications.sms(
                    offer.id,
                    "buyer-receipt",
                    buyer,
                    notifications.ENERGY_BOUGHT,
                    counterpart=seller.phone,
                    balance_wh=accounts[buyer.kwh_account_id].available,
                    balance_ngwee=accounts[buyer.zmw_account_id].available,
                    **common,
                ),
            ],
            now_us=self._clock.now_us(),
            config=self._config,
        )

    async def decline(self, *, buyer: User, offer_id: str) -> Offer:
        """Release the seller's reserved energy; the seller is told by SMS."""

        async def work(tx: Transaction) -> Offer:
            offer = await self._mine(tx, buyer, offer_id)
            if offer.status is OfferStatus.ACCEPTED:
                raise OfferClosed("offer accepted already")
            release = Transfer(
                id=f"{offer.id}:decline",
                flags=TransferFlags.VOID_PENDING,
                pending_id=offer.reservation_id,
                code=TransferCode.ENERGY_TRADE,
                reference=offer.reference,
            )

            def refusal(_i: int, result: R) -> EnerlectraError | None:
                return OfferExpired("offer expired") if result is R.PENDING_TRANSFER_EXPIRED else OfferClosed("closed")

            if not await apply_operation(tx, [release], refusal):
                await tx.close_offer(offer.id, OfferStatus.DECLINED)
                seller = await tx.user_by_id(offer.seller_id)
                if seller is not None:
                    await notifications.queue(
                        tx,
                        [
                            notifications.sms(
                                offer.id,
                                "seller-declined",
                                seller,
                                notifications.OFFER_DECLINED,
                                counterpart=buyer.phone,
                                wh=offer.wh,
                                ref=offer.reference,
                            )
                        ],
                        now_us=self._clock.now_us(),
                        config=self._config,
                    )
            return offer

        return await self._store.atomic(work)
