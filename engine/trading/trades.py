"""Peer-to-peer energy trades: the seller gives kWh, the buyer pays ZMW, atomically."""

from __future__ import annotations

from dataclasses import dataclass

from engine.identity.model import User
from engine.identity.ports import UserReader
from engine.identity.users import check_outflow
from engine.kernel import daily_caps
from engine.kernel.clock import Clock
from engine.kernel.config import EngineConfig
from engine.kernel.errors import (
    AmountNotPositive,
    AmountTooSmall,
    BelowMinimum,
    BuyerInsufficientFunds,
    CounterpartyNotFound,
    EnerlectraError,
    InsufficientEnergy,
    InvalidPrice,
    SelfTrade,
    UserNotFound,
)
from engine.kernel.phones import require_zambian_mobile
from engine.kernel.references import reference_for
from engine.kernel.units import basis_points_rounded_up, cost_of_energy
from engine.ledger.accounts import FEES
from engine.ledger.model import CreateTransferResult, Ledger, Transfer, TransferCode
from engine.ledger.operations import apply_operation, new_operation_id
from engine.trading.events import TradeSettled
from engine.trading.ports import TradingUnit, TradingUnits


@dataclass(frozen=True, slots=True)
class TradeQuote:
    wh: int
    price_ngwee_per_kwh: int
    cost_ngwee: int
    fee_ngwee: int

    @property
    def buyer_pays(self) -> int:
        return self.cost_ngwee + self.fee_ngwee


@dataclass(frozen=True, slots=True)
class TradeReceipt:
    reference: str
    quote: TradeQuote
    seller_phone: str
    buyer_phone: str
    replayed: bool  # True when this repeats an operation already applied


def counterpart_phone(seller: User, buyer_phone: str) -> str:
    """The buyer's number, checked: a Zambian mobile that is not the seller's own."""
    buyer_phone = require_zambian_mobile(buyer_phone)
    if buyer_phone == seller.phone:
        raise SelfTrade("cannot trade with yourself")
    return buyer_phone


def payment_transfers(
    operation: str, buyer: User, seller: User, cost_ngwee: int, fee_ngwee: int, reference: str
) -> list[Transfer]:
    """The buyer pays the seller, and the platform fee if there is one."""
    transfers = [
        Transfer(
            id=f"{operation}:payment",
            debit_account_id=buyer.zmw_account_id,
            credit_account_id=seller.zmw_account_id,
            amount=cost_ngwee,
            ledger=Ledger.ZMW,
            code=TransferCode.ENERGY_PAYMENT,
            reference=reference,
        )
    ]
    if fee_ngwee:
        transfers.append(
            Transfer(
                id=f"{operation}:fee",
                debit_account_id=buyer.zmw_account_id,
                credit_account_id=FEES,
                amount=fee_ngwee,
                ledger=Ledger.ZMW,
                code=TransferCode.TRADE_FEE,
                reference=reference,
            )
        )
    return transfers


async def trading_parties(users: UserReader, seller: User, buyer_phone: str) -> tuple[User, User]:
    """Both parties as stored now, inside the unit of work."""
    seller_now = await users.user_by_id(seller.id)
    if seller_now is None:
        raise UserNotFound("seller not registered")
    buyer = await users.user_by_phone(buyer_phone)
    if buyer is None:
        raise CounterpartyNotFound("the other number is not registered")
    return seller_now, buyer


class TradingService:
    def __init__(self, units: TradingUnits, config: EngineConfig, clock: Clock) -> None:
        self._units = units
        self._config = config
        self._clock = clock

    async def gifts_left_today(self, sender: User) -> int:
        """How many more gifts ``sender`` may send today (to say so before anything is typed)."""
        limit, offset = self._config.gifts_per_day, self._config.local_utc_offset_s
        counters = self._units.reads.counters
        now = self._clock.now_us()
        return await daily_caps.left_today(
            counters, sender.id, daily_caps.Cap.GIFTS, limit, now_us=now, offset_s=offset
        )

    def quote(self, wh: int, price_ngwee_per_kwh: int | None = None) -> TradeQuote:
        """What a trade of ``wh`` costs; ``price`` 0 is a gift, None the platform rate."""
        if wh <= 0:
            raise AmountNotPositive("energy must be positive")
        price = self._config.platform_price_ngwee_per_kwh if price_ngwee_per_kwh is None else price_ngwee_per_kwh
        if price < 0:
            raise InvalidPrice("price must not be negative")
        if wh < self._config.min_transfer_wh:
            # A gift or offer of a few Wh is worth nothing to anyone but costs two SMS.
            raise BelowMinimum("less than the smallest gift or offer", min_wh=self._config.min_transfer_wh)
        cost = cost_of_energy(wh, price)
        if price > 0 and cost == 0:
            raise AmountTooSmall("too little energy to charge for", wh=wh)
        return TradeQuote(wh, price, cost, basis_points_rounded_up(cost, self._config.trade_fee_bps))

    async def trade(
        self,
        *,
        seller: User,
        buyer_phone: str,
        wh: int,
        price_ngwee_per_kwh: int | None = None,
        operation_id: str | None = None,
    ) -> TradeReceipt:
        """Move ``wh`` from seller to buyer and the price (plus fee) from buyer to seller.

        With a price of 0 this sends energy as a gift. ``operation_id`` makes
        the trade idempotent: repeating it returns the first receipt.
        """
        buyer_phone = counterpart_phone(seller, buyer_phone)
        quote = self.quote(wh, price_ngwee_per_kwh)
        operation = operation_id or new_operation_id()
        reference = reference_for(operation)

        async def work(uow: TradingUnit) -> TradeReceipt:
            seller_now, buyer = await trading_parties(uow.users, seller, buyer_phone)
            now = self._clock.now_us()
            check_outflow(seller_now, now, self._config.local_utc_offset_s)
            gift = quote.price_ngwee_per_kwh == 0
            transfers = [
                Transfer(
                    id=f"{operation}:energy",
                    debit_account_id=seller_now.kwh_account_id,
                    credit_account_id=buyer.kwh_account_id,
                    amount=quote.wh,
                    ledger=Ledger.KWH,
                    code=TransferCode.ENERGY_GIFT if gift else TransferCode.ENERGY_TRADE,
                    reference=reference,
                )
            ]
            if not gift:  # a gift has no price and so no fee
                transfers += payment_transfers(
                    operation, buyer, seller_now, quote.cost_ngwee, quote.fee_ngwee, reference
                )

            def refusal(index: int, result: CreateTransferResult) -> EnerlectraError | None:
                if result is CreateTransferResult.EXCEEDS_CREDITS:
                    if index == 0:
                        return InsufficientEnergy("not enough energy", wh=quote.wh)
                    return BuyerInsufficientFunds("buyer cannot pay", ngwee=quote.buyer_pays)
                return None

            replayed = await apply_operation(uow.ledger, transfers, refusal)
            if not replayed:
                if gift:  # counted only once it applies: a refused or replayed gift uses none of the day's
                    limit, offset = self._config.gifts_per_day, self._config.local_utc_offset_s
                    await daily_caps.use(
                        uow.counters, seller_now.id, daily_caps.Cap.GIFTS, limit, now_us=now, offset_s=offset
                    )
                uow.record(
                    TradeSettled(
                        operation_id=operation,
                        at_us=self._clock.now_us(),
                        seller=seller_now,
                        buyer=buyer,
                        wh=quote.wh,
                        cost_ngwee=quote.cost_ngwee,
                        fee_ngwee=quote.fee_ngwee,
                        reference=reference,
                        gift=gift,
                    )
                )
            return TradeReceipt(reference, quote, seller_now.phone, buyer.phone, replayed)

        return await self._units.run(work)
