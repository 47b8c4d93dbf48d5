"""SMS for the market: a taker's fills in one message, a maker's first fill in a slot at once, the rest folded.

Expiry tells the owner what was released; a cancel is not told (its owner just
did it on the screen). Everything goes through the daily SMS cap.
"""

from __future__ import annotations

from typing import TypeVar

from engine.identity.model import User
from engine.kernel.config import EngineConfig
from engine.kernel.events import EventBus
from engine.kernel.local_time import local_text
from engine.markets.events import FillsFolded, MakerFilled, OrderClosed, OrderPlaced
from engine.markets.model import Order, Side, Trade
from engine.notifications import outbox as notifications
from engine.notifications.ports import ReceiptContext

U = TypeVar("U", bound=ReceiptContext)


def _totals(trades: tuple[Trade, ...], side: Side) -> tuple[int, int, int]:
    """(Wh, ngwee, fee) of some fills from one side's point of view (a buyer's money includes the fee)."""
    wh = sum(t.wh for t in trades)
    fee = sum(t.fee_ngwee for t in trades)
    if side is Side.BUY:
        return wh, sum(t.buyer_paid_ngwee for t in trades) + fee, fee
    return wh, sum(t.seller_received_ngwee for t in trades), 0


class MarketReceipts:
    def __init__(self, config: EngineConfig) -> None:
        self._config = config

    def subscribe(self, bus: EventBus[U]) -> None:
        bus.subscribe(OrderPlaced, self.order_placed)
        bus.subscribe(MakerFilled, self.maker_filled)
        bus.subscribe(FillsFolded, self.fills_folded)
        bus.subscribe(OrderClosed, self.order_closed)

    async def order_placed(self, event: OrderPlaced, uow: ReceiptContext) -> None:
        if event.fills:  # an order that only rests is not told: the screen said so
            await self._fills(uow, event.operation_id, "taker", event.owner, event.order, event.fills,
                              event.cluster_name, event.at_us)  # fmt: skip

    async def maker_filled(self, event: MakerFilled, uow: ReceiptContext) -> None:
        if event.tell_now:  # otherwise folded into the slot's summary
            await self._fills(uow, event.operation_id, "maker", event.owner, event.order, (event.trade,),
                              event.cluster_name, event.at_us)  # fmt: skip

    async def _fills(
        self, uow: ReceiptContext, operation: str, role: str, owner: User, order: Order, fills: tuple[Trade, ...],
        cluster: str, at_us: int,
    ) -> None:  # fmt: skip
        """One SMS for some fills of ``order`` to its owner, with the balances as they are after them."""
        wh, ngwee, fee = _totals(fills, order.side)
        accounts = await uow.ledger.lookup_accounts([owner.kwh_account_id, owner.zmw_account_id])
        message = notifications.sms(
            operation,
            role,
            owner,
            notifications.MARKET_BOUGHT if order.side is Side.BUY else notifications.MARKET_SOLD,
            cluster=cluster,
            wh=wh,
            ngwee=ngwee,
            fee=fee,
            fills=len(fills),
            left_wh=order.remaining_wh if order.state.active else 0,
            ref=order.reference,
            balance_wh=accounts[owner.kwh_account_id].available,
            balance_ngwee=accounts[owner.zmw_account_id].available,
        )
        await notifications.queue(uow.outbox, [message], now_us=at_us, config=self._config)

    async def fills_folded(self, event: FillsFolded, uow: ReceiptContext) -> None:
        n = event.notice
        message = notifications.sms(
            event.operation_id,
            "folded",
            event.owner,
            notifications.MARKET_FOLDED,
            cluster=event.cluster_name,
            time=local_text(n.slot_start_us, self._config.local_utc_offset_s, "%H:%M"),
            fills=n.fills,
            sides=(1 if n.bought_wh else 0) + (2 if n.sold_wh else 0),  # 1 bought, 2 sold, 3 both
            bought_wh=n.bought_wh,
            paid=n.paid_ngwee,
            sold_wh=n.sold_wh,
            received=n.received_ngwee,
        )
        await notifications.queue(uow.outbox, [message], now_us=event.at_us, config=self._config)

    async def order_closed(self, event: OrderClosed, uow: ReceiptContext) -> None:
        order = event.order
        if order.reason != "expired":
            return
        buying = order.side is Side.BUY
        message = notifications.sms(
            event.operation_id,
            "owner",
            event.owner,
            notifications.MARKET_EXPIRED_BUY if buying else notifications.MARKET_EXPIRED_SELL,
            ref=order.reference,
            wh=order.remaining_wh,
            ngwee=event.released if buying else 0,
        )
        await notifications.queue(uow.outbox, [message], now_us=event.at_us, config=self._config)
