"""A cluster's order book: place (reserve, match, rest), cancel, list; and the slot job that expires and tells.

Every change to one cluster's book runs under its market lock (see
:mod:`engine.markets.ports`), in one transaction with its ledger transfers,
its trades and its SMS: a fill is recorded with the money and energy it moved,
or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from engine.identity.model import PinProof, User
from engine.identity.users import UserService, check_outflow
from engine.kernel.clock import MICROS_PER_SECOND, Clock
from engine.kernel.config import EngineConfig
from engine.kernel.errors import (
    AmountNotPositive,
    ClusterNotFound,
    EnerlectraError,
    IdempotencyConflict,
    InsufficientEnergy,
    InsufficientFunds,
    PinNotVerified,
    UserNotFound,
)
from engine.kernel.local_time import next_local_midnight_us
from engine.kernel.references import reference_for
from engine.ledger.model import CreateTransferResult
from engine.ledger.operations import apply_operation, new_operation_id
from engine.markets.book import fill_orders, stopped_by_self_trade
from engine.markets.config import MarketConfig
from engine.markets.errors import (
    InvalidSlot,
    OrderClosed,
    OrderNotFound,
    OrderTooSmall,
    PriceOutOfBand,
    TooManyOpenOrders,
)
from engine.markets.events import MakerFilled, OrderPlaced
from engine.markets.events import OrderClosed as OrderClosedEvent
from engine.markets.matching import buy_reservation, crosses, match
from engine.markets.model import Order, OrderState, Side, Trade
from engine.markets.months import month_key
from engine.markets.ports import MarketUnit, MarketUnits
from engine.markets.prices import PostedPrice, PriceService
from engine.markets.pricing import slot_start_us
from engine.markets.settlement import escrow_accounts, fill_transfers, release, reservation

R = CreateTransferResult
PAGE = 16  # resting orders read at a time while matching


@dataclass(frozen=True, slots=True)
class Placement:
    order: Order  # after matching
    trades: tuple[Trade, ...]
    replayed: bool
    price: int  # the cluster's posted price when it was placed

    @property
    def self_trade(self) -> bool:
        return self.order.reason == "self_trade"


@dataclass(frozen=True, slots=True)
class Depth:
    cluster_id: str
    price: int
    bids: list[tuple[int, int, int]]  # (price, Wh, orders), best first
    asks: list[tuple[int, int, int]]


class OrderService:
    def __init__(
        self,
        units: MarketUnits,
        config: EngineConfig,
        market: MarketConfig,
        clock: Clock,
        users: UserService,
        prices: PriceService,
    ) -> None:
        self._units = units
        self._config = config
        self._market = market
        self._clock = clock
        self._users = users
        self._prices = prices

    # --- slots ----------------------------------------------------------------------
    @property
    def _slot_us(self) -> int:
        return self._market.slot_s * MICROS_PER_SECOND

    def next_open_slot(self, now_us: int) -> int:
        """The first delivery slot whose gate has not closed."""
        gate = self._market.gate_closure_s * MICROS_PER_SECOND
        slot = slot_start_us(now_us, self._market.slot_s)
        while slot - gate <= now_us:
            slot += self._slot_us
        return slot

    def _timing(self, now: int, slot: int | None, good_for_day: bool) -> tuple[int, int, int]:
        """(slot start, trade until, expires at) of a new order."""
        gate = self._market.gate_closure_s * MICROS_PER_SECOND
        first = self.next_open_slot(now)
        if good_for_day:
            end = next_local_midnight_us(first, self._config.local_utc_offset_s)
            return first, end - gate, end
        if slot is None:
            slot = first
        if slot % self._slot_us or slot < first:
            raise InvalidSlot("not an open delivery slot", slot_us=slot)
        if slot >= next_local_midnight_us(first, self._config.local_utc_offset_s):
            raise InvalidSlot("orders are for today's slots", slot_us=slot)
        return slot, slot - gate, slot + self._slot_us

    # --- placing -----------------------------------------------------------------------
    async def place(
        self,
        proof: PinProof,
        user: User,
        cluster_id: str,
        side: Side | str,
        wh: int,
        price: int,
        *,
        slot_start_us: int | None = None,
        good_for_day: bool = False,
        operation_id: str | None = None,
    ) -> Placement:
        """Reserve, match at the resting orders' prices, rest the rest; idempotent on ``operation_id``."""
        if not self._users.proof_is_valid(proof, user):
            raise PinNotVerified("an order needs its owner's PIN")
        side = Side(side)
        if wh <= 0 or price <= 0:
            raise AmountNotPositive("energy and price must be positive")
        if wh < self._market.min_order_wh:
            raise OrderTooSmall("order too small", min_wh=self._market.min_order_wh)
        operation = operation_id or new_operation_id()
        now = self._clock.now_us()

        async def work(uow: MarketUnit) -> Placement:
            cluster = await uow.clusters.cluster_by_id(cluster_id)
            if cluster is None:  # before the lock: an unknown cluster has no market row to lock
                raise ClusterNotFound("no such cluster", cluster_id=cluster_id)
            state = await uow.markets.lock_market(cluster_id)
            existing = await uow.markets.order_by_id(operation)
            if existing is not None:
                same = (existing.user_id, existing.cluster_id, existing.side, existing.wh, existing.price)
                if same != (user.id, cluster_id, side, wh, price):
                    raise IdempotencyConflict("operation id reused with a different order")
                return Placement(existing, (), True, 0)
            # after the replay check: a retry of a placed order is answered even once its slot has closed
            slot, trade_until, expires = self._timing(now, slot_start_us, good_for_day)
            # The owner's row, locked (always after the market's): the open-order cap counts across
            # clusters, whose market locks alone would let two placements at once both pass it.
            owner = await uow.users.user_for_update(user.id)
            if owner is None:
                raise UserNotFound("not registered")
            check_outflow(owner, now, self._config.local_utc_offset_s)
            posted = await self._prices.post(uow, cluster, slot_start_us_of(now, self._market))
            tariff = posted.tariff
            if not tariff.floor <= price <= tariff.cap:
                raise PriceOutOfBand("price outside the cluster's band", floor=tariff.floor, cap=tariff.cap)
            most = self._market.max_open_orders_per_user
            if await uow.markets.count_active_orders(user.id) >= most:
                raise TooManyOpenOrders("too many open orders", max=most)
            if state.next_order_seq == 1:
                await uow.ledger.create_accounts(escrow_accounts(cluster_id))
            reserved = buy_reservation(wh, price, self._market.fee_bps) if side is Side.BUY else wh
            order = Order(
                id=operation,
                reference=reference_for(operation),
                cluster_id=cluster_id,
                user_id=user.id,
                side=side,
                price=price,
                wh=wh,
                remaining_wh=wh,
                slot_start_us=slot,
                good_for_day=good_for_day,
                trade_until_us=trade_until,
                expires_at_us=expires,
                seq=state.next_order_seq,
                state=OrderState.OPEN,
                created_at_us=now,
                updated_at_us=now,
                reserved=reserved,
            )

            def refusal(_i: int, result: R) -> EnerlectraError | None:
                if result is not R.EXCEEDS_CREDITS:
                    return None
                if side is Side.BUY:
                    return InsufficientFunds("not enough money", ngwee=reserved)
                return InsufficientEnergy("not enough energy", wh=wh)

            await apply_operation(uow.ledger, [reservation(order, owner, now)], refusal)
            await uow.markets.insert_order(order)
            placement = await self._match(uow, order, owner, posted, state.next_trade_seq, now)
            await uow.markets.save_market(
                replace(state, next_order_seq=state.next_order_seq + 1,
                        next_trade_seq=state.next_trade_seq + len(placement.trades))
            )  # fmt: skip
            uow.record(
                OrderPlaced(
                    operation_id=operation,
                    at_us=now,
                    order=placement.order,
                    owner=owner,
                    fills=placement.trades,
                    cluster_name=cluster.name,
                )
            )
            return placement

        return await self._units.run(work)

    async def _candidates(self, uow: MarketUnit, order: Order, now: int) -> list[Order]:
        """Opposite orders best first, read a page at a time until enough cross (or one does not)."""
        found: list[Order] = []
        after: tuple[int, int] | None = None
        need = order.remaining_wh
        while True:
            page = await uow.markets.best_orders(
                order.cluster_id,
                order.side.opposite,
                now_us=now,
                slot_start_us=None if order.good_for_day else order.slot_start_us,
                limit=PAGE,
                after=after,
            )
            found.extend(page)
            if len(page) < PAGE or any(not crosses(order, o) or o.user_id == order.user_id for o in page):
                return found
            need -= sum(o.remaining_wh for o in page)
            if need <= 0:
                return found
            after = (page[-1].price, page[-1].seq)

    async def _match(
        self, uow: MarketUnit, order: Order, owner: User, posted: PostedPrice, trade_seq: int, now: int
    ) -> Placement:
        outcome = match(order, await self._candidates(uow, order, now))
        incoming = order
        trades: list[Trade] = []
        slot_now = posted.slot.slot_start_us
        month = month_key(now, self._config.local_utc_offset_s)
        makers = await uow.users.users_by_ids(sorted({m.maker.user_id for m in outcome.matches}))  # one read
        for m in outcome.matches:
            maker_owner = makers.get(m.maker.user_id)
            if maker_owner is None:
                raise UserNotFound("a resting order's owner is gone")
            incoming, maker, fill = fill_orders(replace(incoming, updated_at_us=now), m.maker, m.wh, m.price,
                                                self._market.fee_bps)  # fmt: skip
            buying = incoming.side is Side.BUY
            buy_after, sell_after = (incoming, maker) if buying else (maker, incoming)
            buyer, seller = (owner, maker_owner) if buying else (maker_owner, owner)
            trade = Trade(
                id=f"{order.cluster_id}:t{trade_seq}",
                cluster_id=order.cluster_id,
                seq=trade_seq,
                slot_start_us=_delivery_slot(order, m.maker),
                buy_order_id=buy_after.id,
                sell_order_id=sell_after.id,
                buyer_id=buyer.id,
                seller_id=seller.id,
                taker=order.side,
                price=m.price,
                wh=m.wh,
                buyer_paid_ngwee=fill.amounts.buyer_pays,
                seller_received_ngwee=fill.amounts.seller_gets,
                fee_ngwee=fill.amounts.fee,
                at_us=now,
            )
            transfers = fill_transfers(
                fill,
                buy_after=buy_after,
                sell_after=sell_after,
                buyer=buyer,
                seller=seller,
                trade_id=trade.id,
                reference=reference_for(trade.id),
                now_us=now,
            )
            await apply_operation(uow.ledger, transfers, lambda _i, _r: None)
            await uow.markets.insert_trade(trade)
            await uow.markets.update_order(maker)
            await uow.markets.record_slot_trade(order.cluster_id, slot_now, price=m.price, wh=m.wh)
            paid = fill.amounts.buyer_pays + fill.amounts.fee
            await uow.markets.add_monthly_energy(buyer.id, month, wh=m.wh, ngwee=paid, lifeline_wh=0)
            maker_buys = maker.side is Side.BUY
            notice = await uow.markets.note_fill(
                maker_owner.id,
                order.cluster_id,
                slot_now,
                bought_wh=m.wh if maker_buys else 0,
                sold_wh=0 if maker_buys else m.wh,
                paid_ngwee=paid if maker_buys else 0,
                received_ngwee=0 if maker_buys else fill.amounts.seller_gets,
            )
            tell_now = notice.told == 0
            if tell_now:
                await uow.markets.mark_told(maker_owner.id, order.cluster_id, slot_now, notice.fills)
            uow.record(
                MakerFilled(
                    operation_id=trade.id,
                    at_us=now,
                    trade=trade,
                    order=maker,
                    owner=maker_owner,
                    notice=notice,
                    tell_now=tell_now,
                    cluster_name=posted.cluster.name,
                )
            )
            trades.append(trade)
            trade_seq += 1
        if outcome.self_trade is not None:
            if incoming.reserved > 0:
                await apply_operation(uow.ledger, [release(incoming, "stp")], lambda _i, _r: None)
            incoming = replace(stopped_by_self_trade(incoming), reserved=0, updated_at_us=now)
        if incoming != order:
            await uow.markets.update_order(incoming)
        return Placement(incoming, tuple(trades), False, posted.price)

    # --- cancelling and expiring ------------------------------------------------------------
    async def cancel(self, proof: PinProof, user: User, order_id: str) -> Order:
        """Release what the order still reserves; cancelling a cancelled order again returns it."""
        if not self._users.proof_is_valid(proof, user):
            raise PinNotVerified("cancelling needs the owner's PIN")
        now = self._clock.now_us()

        async def work(uow: MarketUnit) -> Order:
            seen = await uow.markets.order_by_id(order_id)
            if seen is None or seen.user_id != user.id:
                raise OrderNotFound("no such order of yours")
            await uow.markets.lock_market(seen.cluster_id)
            order = await uow.markets.order_by_id(order_id)  # as it is now that nothing else can change it
            if order is None:
                raise OrderNotFound("no such order of yours")
            if order.state is OrderState.CANCELLED and order.reason == "user":
                return order
            if not order.state.active:
                raise OrderClosed("order is closed", state=str(order.state))
            return await self.close(uow, order, user, OrderState.CANCELLED, "user", now)

        return await self._units.run(work)

    async def close(self, uow: MarketUnit, order: Order, owner: User, state: OrderState, why: str, now: int) -> Order:
        if order.reserved > 0:  # a buy whose last Wh cost no more than it paid holds nothing: no reservation
            results = await uow.ledger.create_transfers([release(order, why)])
            if results[0] not in (R.OK, R.EXISTS, R.PENDING_TRANSFER_EXPIRED):  # expired: the ledger released it
                raise OrderClosed("order could not be released", result=str(results[0]))
        closed = replace(order, state=state, reason=why, reserved=0, updated_at_us=now)
        await uow.markets.update_order(closed)
        uow.record(OrderClosedEvent(operation_id=f"{order.id}:{why}", at_us=now, order=closed, owner=owner,
                                    released=order.reserved))  # fmt: skip
        return closed

    # --- reading ------------------------------------------------------------------------------
    async def order_for(self, user: User, order_id: str) -> Order:
        order = await self._units.reads.markets.order_by_id(order_id)
        if order is None or order.user_id != user.id:
            raise OrderNotFound("no such order of yours")
        return order

    async def my_orders(self, user: User, *, active: bool = True, limit: int = 20, offset: int = 0) -> list[Order]:
        states = (OrderState.OPEN, OrderState.PARTIAL) if active else None
        return await self._units.reads.markets.orders_for_user(user.id, states=states, limit=limit, offset=offset)

    async def count_active(self, user: User) -> int:
        return await self._units.reads.markets.count_active_orders(user.id)

    async def depth(self, cluster_id: str, *, levels: int = 5) -> Depth:
        posted = await self._prices.current(cluster_id)
        now, reads = self._clock.now_us(), self._units.reads.markets
        bids = await reads.depth(cluster_id, Side.BUY, now_us=now, levels=levels)
        asks = await reads.depth(cluster_id, Side.SELL, now_us=now, levels=levels)
        return Depth(cluster_id, posted.price, bids, asks)

    async def trades(self, cluster_id: str, *, limit: int = 20, before_seq: int | None = None) -> list[Trade]:
        return await self._units.reads.markets.trades(cluster_id, limit=limit, before_seq=before_seq)

    async def my_trades(self, user: User, *, limit: int = 20) -> list[Trade]:
        return await self._units.reads.markets.trades_for_user(user.id, limit=limit)


def slot_start_us_of(now_us: int, market: MarketConfig) -> int:
    return slot_start_us(now_us, market.slot_s)


def _delivery_slot(incoming: Order, maker: Order) -> int:
    """A fill delivers in the slot either order names; two good-for-day orders: the incoming one's first slot."""
    if not incoming.good_for_day:
        return incoming.slot_start_us
    return incoming.slot_start_us if maker.good_for_day else maker.slot_start_us
