"""Selling energy to a neighbour: an offer the buyer accepts with their own PIN.

The seller's kWh are reserved at once (a pending transfer with a timeout), so
an offer cannot be sold twice; the buyer's money moves only when the buyer
accepts. Declining or letting it expire releases the reservation. A gift
(price 0) needs no consent and goes through :meth:`TradingService.trade`.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.identity.model import User
from engine.identity.users import check_outflow
from engine.kernel import daily_caps
from engine.kernel.clock import MICROS_PER_SECOND, Clock
from engine.kernel.config import EngineConfig
from engine.kernel.errors import (
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
from engine.kernel.references import reference_for
from engine.ledger.model import CreateTransferResult, Ledger, Transfer, TransferCode, TransferFlags
from engine.ledger.operations import apply_operation, new_operation_id
from engine.trading.events import OfferDeclined, OfferMade, TradeSettled
from engine.trading.model import Offer, OfferStatus
from engine.trading.ports import TradingUnit, TradingUnits
from engine.trading.trades import (
    TradeQuote,
    TradeReceipt,
    TradingService,
    counterpart_phone,
    payment_transfers,
    trading_parties,
)

R = CreateTransferResult


@dataclass(frozen=True, slots=True)
class OfferView:
    offer: Offer
    seller_name: str  # first name and last initial (User.short_name)
    seller_phone: str


class OfferService:
    def __init__(self, units: TradingUnits, config: EngineConfig, clock: Clock, trading: TradingService) -> None:
        self._units = units
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

        async def work(uow: TradingUnit) -> Offer:
            seller_now, buyer = await trading_parties(uow.users, seller, buyer_phone)
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

            if await apply_operation(uow.ledger, [reserve], refusal):
                existing = await uow.offers.offer_by_id(operation)
                if existing is not None:
                    return existing
            # Caps are checked once the reservation applied (a replay above uses none); raising rolls it back.
            most = self._config.max_open_offers_per_pair
            if await uow.offers.count_open_offers(seller_now.id, buyer.id, now_us=now) >= most:
                raise TooManyOpenOffers("too many open offers to this buyer", max=most)
            limit, offset = self._config.offers_per_day, self._config.local_utc_offset_s
            await daily_caps.use(uow.counters, seller_now.id, daily_caps.Cap.OFFERS, limit, now_us=now, offset_s=offset)
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
            await uow.offers.insert_offer(offer)
            uow.record(
                OfferMade(
                    operation_id=operation,
                    at_us=now,
                    offer=offer,
                    seller=seller_now,
                    buyer=buyer,
                    buyer_pays_ngwee=quote.buyer_pays,
                )
            )
            return offer

        return await self._units.run(work)

    async def offers_left_today(self, seller: User) -> int:
        """How many more offers ``seller`` may make today (to say so before anything is typed)."""
        limit, offset = self._config.offers_per_day, self._config.local_utc_offset_s
        counters = self._units.reads.counters
        now = self._clock.now_us()
        return await daily_caps.left_today(
            counters, seller.id, daily_caps.Cap.OFFERS, limit, now_us=now, offset_s=offset
        )

    async def open_offers_to(self, seller: User, buyer: User) -> int:
        """Offers from ``seller`` that ``buyer`` has not answered yet (at most ``max_open_offers_per_pair``)."""
        return await self._units.reads.offers.count_open_offers(seller.id, buyer.id, now_us=self._clock.now_us())

    async def offer_for(self, buyer: User, offer_id: str) -> OfferView | None:
        """One of ``buyer``'s offers with its seller, or None (someone else's offer is never shown)."""
        offer = await self._units.reads.offers.offer_by_id(offer_id)
        if offer is None or offer.buyer_id != buyer.id:
            return None
        return await self._view(offer)

    async def _view(self, offer: Offer) -> OfferView | None:
        seller = await self._units.reads.users.user_by_id(offer.seller_id)
        return None if seller is None else OfferView(offer, seller.short_name, seller.phone)

    async def open_offers(self, buyer: User) -> list[OfferView]:
        offers = await self._units.reads.offers.open_offers_for(buyer.id, now_us=self._clock.now_us())
        views = [await self._view(offer) for offer in offers]
        return [v for v in views if v is not None]

    async def _mine(self, uow: TradingUnit, buyer: User, offer_id: str) -> Offer:
        offer = await uow.offers.offer_by_id(offer_id)
        if offer is None or offer.buyer_id != buyer.id:
            raise OfferNotFound("no such offer for you")
        if offer.status is OfferStatus.DECLINED:
            raise OfferClosed("offer declined already")
        if offer.status is OfferStatus.OPEN and self._clock.now_us() >= offer.expires_at:
            raise OfferExpired("offer expired")
        return offer

    async def accept(self, *, buyer: User, offer_id: str) -> TradeReceipt:
        """Take the reserved energy and pay for it; repeating an accepted offer returns its receipt."""

        async def work(uow: TradingUnit) -> TradeReceipt:
            offer = await self._mine(uow, buyer, offer_id)
            seller = await uow.users.user_by_id(offer.seller_id)
            payer = await uow.users.user_by_id(buyer.id)
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

            replayed = await apply_operation(uow.ledger, transfers, refusal)
            quote = TradeQuote(offer.wh, offer.price_ngwee_per_kwh, offer.cost_ngwee, offer.fee_ngwee)
            if not replayed:
                await uow.offers.close_offer(offer.id, OfferStatus.ACCEPTED)
                uow.record(
                    TradeSettled(
                        operation_id=offer.id,
                        at_us=self._clock.now_us(),
                        seller=seller,
                        buyer=payer,
                        wh=offer.wh,
                        cost_ngwee=offer.cost_ngwee,
                        fee_ngwee=offer.fee_ngwee,
                        reference=offer.reference,
                        offer_id=offer.id,
                    )
                )
            return TradeReceipt(offer.reference, quote, seller.phone, payer.phone, replayed)

        return await self._units.run(work)

    async def decline(self, *, buyer: User, offer_id: str) -> Offer:
        """Release the seller's reserved energy; the seller is told by SMS."""

        async def work(uow: TradingUnit) -> Offer:
            offer = await self._mine(uow, buyer, offer_id)
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

            if not await apply_operation(uow.ledger, [release], refusal):
                await uow.offers.close_offer(offer.id, OfferStatus.DECLINED)
                seller = await uow.users.user_by_id(offer.seller_id)
                if seller is not None:
                    uow.record(
                        OfferDeclined(
                            operation_id=offer.id,
                            at_us=self._clock.now_us(),
                            offer=offer,
                            seller=seller,
                            buyer_phone=buyer.phone,
                        )
                    )
            return offer

        return await self._units.run(work)
