"""Peer-to-peer energy trades: the seller gives kWh, the buyer pays ZMW, atomically."""

from __future__ import annotations

from dataclasses import dataclass

from engine import daily_caps, notifications
from engine.accounts import FEES
from engine.clock import Clock
from engine.config import EngineConfig
from engine.errors import (
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
from engine.ledger.model import CreateTransferResult, Ledger, Transfer, TransferCode
from engine.model import User
from engine.operations import apply_operation, new_operation_id
from engine.phones import require_zambian_mobile
from engine.ports import Store, Transaction
from engine.references import reference_for
from engine.units import basis_points_rounded_up, cost_of_energy
from engine.users import check_outflow


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


async def trading_parties(tx: Transaction, seller: User, buyer_phone: str) -> tuple[User, User]:
    """Both parties as stored now, inside the unit of work."""
    seller_now = await tx.user_by_id(seller.id)
    if seller_now is None:
        raise UserNotFound("seller not registered")
    buyer = await tx.user_by_phone(buyer_phone)
    if buyer is None:
        raise CounterpartyNotFound("the other number is not registered")
    return seller_now, buyer


class TradingService:
    def __init__(self, store: Store, config: EngineConfig, clock: Clock) -> None:
        self._store = store
        self._config = config
        self._clock = clock

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

        async def work(tx: Transaction) -> TradeReceipt:
            seller_now, buyer = await trading_parties(tx, seller, buyer_phone)
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

            replayed = await apply_operation(tx, transfers, refusal)
            if not replayed:
                if gift:  # counted only once it applies: a refused or replayed gift uses none of the day's
                    limit, offset = self._config.gifts_per_day, self._config.local_utc_offset_s
                    await daily_caps.use(tx, seller_now.id, daily_caps.Cap.GIFTS, limit, now_us=now, offset_s=offset)
                accounts = await tx.lookup_accounts(
                    [seller_now.kwh_account_id, seller_now.zmw_account_id, buyer.kwh_account_id, buyer.zmw_account_id]
                )
                common: dict[str, str | int] = {
                    "wh": quote.wh,
                    "ngwee": quote.cost_ngwee,
                    "fee": quote.fee_ngwee,
                    "ref": reference,
                }
                sold, bought = (
                    (notifications.ENERGY_SENT, notifications.ENERGY_RECEIVED)
                    if gift
                    else (notifications.ENERGY_SOLD, notifications.ENERGY_BOUGHT)
                )
                await notifications.queue(
                    tx,
                    [
                        notifications.sms(
                            operation,
                            "seller",
                            seller_now,
                            sold,
                            counterpart=buyer.phone,
                            balance_wh=accounts[seller_now.kwh_account_id].available,
                            balance_ngwee=accounts[seller_now.zmw_account_id].available,
                            **common,
                        ),
                        notifications.sms(
                            operation,
                            "buyer",
                            buyer,
                            bought,
                            counterpart=seller_now.phone,
                            balance_wh=accounts[buyer.kwh_account_id].available,
                            balance_ngwee=accounts[buyer.zmw_account_id].available,
                            **common,
                        ),
                    ],
                    now_us=self._clock.now_us(),
                    config=self._config,
                )
            return TradeReceipt(reference, quote, seller_now.phone, buyer.phone, replayed)

        return await self._store.atomic(work)
