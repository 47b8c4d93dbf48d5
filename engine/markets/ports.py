"""What the market needs from a database.

Every change to a cluster's book first takes :meth:`MarketWriter.lock_market`
(a row lock on PostgreSQL, the write lock on SQLite), so placing, cancelling,
matching and expiring orders of one cluster happen one at a time and in one
order, while different clusters' books change in parallel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from engine.energy.ports import ClusterReader
from engine.identity.ports import UserReader, UserWriter
from engine.kernel.ports import CounterWriter
from engine.kernel.unit_of_work import RecordsEvents, Units
from engine.ledger.ports import LedgerReader, LedgerWriter
from engine.markets.model import (
    FillNotice,
    MarketState,
    MonthlyEnergy,
    Order,
    OrderState,
    Quote,
    Side,
    SlotPrice,
    Tariff,
    Trade,
)
from engine.notifications.ports import OutboxWriter
from engine.scheduler.ports import JobWriter


class MarketReader(Protocol):
    # --- orders ---------------------------------------------------------------
    async def order_by_id(self, order_id: str) -> Order | None: ...

    async def best_orders(
        self,
        cluster_id: str,
        side: Side,
        *,
        now_us: int,
        slot_start_us: int | None,
        limit: int,
        after: tuple[int, int] | None = None,
    ) -> list[Order]:
        """Tradeable orders of ``side`` in priority order, up to ``limit``.

        Tradeable: state open or partial and ``now_us < trade_until_us``.
        Priority: sells by price ascending, buys by price descending, then by
        ``seq`` ascending. ``slot_start_us`` given: only orders for that slot or
        good for the day; None: every slot. ``after`` is the (price, seq) of the
        last order of the previous page: the page starts after it.
        """
        ...

    async def orders_for_user(
        self, user_id: int, *, states: Sequence[OrderState] | None = None, limit: int = 20, offset: int = 0
    ) -> list[Order]:
        """A user's orders, newest first (``states`` None: all)."""
        ...

    async def count_active_orders(self, user_id: int) -> int:
        """A user's open and partial orders, in every cluster."""
        ...

    async def depth(self, cluster_id: str, side: Side, *, now_us: int, levels: int) -> list[tuple[int, int, int]]:
        """(price, remaining Wh, orders) per price level of tradeable orders, best first."""
        ...

    async def open_interest(self, cluster_id: str, *, now_us: int) -> tuple[int, int]:
        """Remaining Wh of tradeable (buy, sell) orders."""
        ...

    # --- trades and history ------------------------------------------------------
    async def trades(self, cluster_id: str, *, limit: int = 20, before_seq: int | None = None) -> list[Trade]:
        """A cluster's trades, newest first."""
        ...

    async def trades_for_user(self, user_id: int, *, limit: int = 20) -> list[Trade]:
        """Trades where the user bought or sold, newest first."""
        ...

    async def slot_price(self, cluster_id: str, slot_start_us: int) -> SlotPrice | None: ...

    async def latest_slot_price(self, cluster_id: str, *, at_or_before_us: int) -> SlotPrice | None:
        """The newest history row whose slot starts at or before ``at_or_before_us``."""
        ...

    async def price_series(self, cluster_id: str, *, from_us: int, to_us: int, limit: int = 2000) -> list[SlotPrice]:
        """History rows with ``from_us <= slot_start_us < to_us``, oldest first."""
        ...

    # --- quotes, tariffs, monthly energy -------------------------------------------
    async def quote_by_id(self, quote_id: str) -> Quote | None: ...

    async def tariff_for(self, cluster_id: str, *, at_us: int) -> Tariff | None:
        """The tariff in force at ``at_us``: the latest with ``effective_from_us <= at_us``."""
        ...

    async def tariffs(self, cluster_id: str) -> list[Tariff]:
        """Every tariff of a cluster, oldest first."""
        ...

    async def monthly_energy(self, user_id: int, month: int) -> MonthlyEnergy:
        """A user's energy bought in ``month`` (yyyymm); zeros when nothing was."""
        ...


class MarketWriter(MarketReader, Protocol):
    async def lock_market(self, cluster_id: str) -> MarketState:
        """Lock the cluster's market row until the transaction ends, creating it if missing."""
        ...

    async def save_market(self, state: MarketState) -> None: ...

    async def insert_order(self, order: Order) -> bool:
        """False if an order with that id exists already."""
        ...

    async def update_order(self, order: Order) -> None:
        """Store the order's mutable fields: remaining, state, fills, value, fees, reservation, reason, updated."""
        ...

    async def due_expiries(self, cluster_id: str, *, now_us: int, limit: int) -> list[Order]:
        """Active orders with ``expires_at_us <= now_us``, oldest expiry first."""
        ...

    async def insert_trade(self, trade: Trade) -> None: ...

    async def insert_slot_price(self, price: SlotPrice) -> bool:
        """Record a slot's posted price (OHLC = price, no volume); False if the slot has one already."""
        ...

    async def record_slot_trade(self, cluster_id: str, slot_start_us: int, *, price: int, wh: int) -> None:
        """Add one trade to the slot's OHLC and volume (the slot's row exists)."""
        ...

    async def insert_quote(self, quote: Quote) -> None: ...

    async def forget_quotes(self, *, expired_before_us: int, limit: int) -> int:
        """Delete up to ``limit`` quotes that expired before ``expired_before_us``; returns how many."""
        ...

    async def use_quote(self, quote_id: str, operation_id: str) -> bool:
        """Mark the quote paid by ``operation_id``; False if another operation used it (the same one: True)."""
        ...

    async def insert_tariff(self, tariff: Tariff) -> bool:
        """False if the cluster has a tariff with the same ``effective_from_us`` already."""
        ...

    async def add_monthly_energy(self, user_id: int, month: int, *, wh: int, ngwee: int, lifeline_wh: int) -> None: ...

    async def note_fill(
        self,
        user_id: int,
        cluster_id: str,
        slot_start_us: int,
        *,
        bought_wh: int,
        sold_wh: int,
        paid_ngwee: int,
        received_ngwee: int,
    ) -> FillNotice:
        """Add one fill to the user's notice for the slot (created at the first); returns it after."""
        ...

    async def mark_told(self, user_id: int, cluster_id: str, slot_start_us: int, told: int) -> None: ...

    async def notices_to_fold(self, cluster_id: str, *, slot_before_us: int, limit: int) -> list[FillNotice]:
        """Notices of slots starting before ``slot_before_us`` with fills not yet told."""
        ...


class MarketUnit(RecordsEvents, Protocol):
    """What the market services touch inside one transaction."""

    @property
    def markets(self) -> MarketWriter: ...

    @property
    def clusters(self) -> ClusterReader: ...

    @property
    def users(self) -> UserWriter: ...

    @property
    def ledger(self) -> LedgerWriter: ...

    @property
    def counters(self) -> CounterWriter: ...

    @property
    def outbox(self) -> OutboxWriter: ...

    @property
    def jobs(self) -> JobWriter: ...


class MarketReads(Protocol):
    @property
    def markets(self) -> MarketReader: ...

    @property
    def clusters(self) -> ClusterReader: ...

    @property
    def users(self) -> UserReader: ...

    @property
    def ledger(self) -> LedgerReader: ...


MarketUnits = Units[MarketUnit, MarketReads]
