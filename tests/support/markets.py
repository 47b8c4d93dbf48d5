"""A market to test storage with: two mini-grid clusters, their users, orders and trades as the engine makes them."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from engine.energy.model import Cluster, ClusterKind
from engine.identity.model import Language, User
from engine.kernel.clock import MICROS_PER_SECOND
from engine.markets.model import Order, OrderState, Side, Trade, money_of
from engine.uow import Database as Store
from engine.uow import Repositories
from storage.memory.ledger import ConstraintViolation

# What each backend raises for a row its schema refuses (an engine bug, never a user's error).
REFUSED = (sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError, ConstraintViolation)
S = MICROS_PER_SECOND
T0 = 1_767_225_600 * S  # the test clock's start: 2026-01-01 00:00 UTC
SLOT = 15 * 60 * S
GATE = 5 * 60 * S
KABWE, CHIPATA = "kabwe-mini", "chipata-solar"


@dataclass(frozen=True)
class Market:
    users: list[User]

    def user(self, n: int) -> int:
        return self.users[n].id


async def open_market(store: Store, *, users: int = 4, clusters: Sequence[str] = (KABWE, CHIPATA)) -> Market:
    """The clusters and ``users`` registered users the market's rows point at."""

    async def work(r: Repositories) -> list[User]:
        for cluster_id in clusters:
            cluster = Cluster(cluster_id, cluster_id.title(), ClusterKind.MICRO, "Central", 40_000, 250, T0)
            await r.clusters.insert_cluster(cluster)
        return [
            await r.users.insert_user(
                phone=f"+26097711{n:04d}", name=f"Trader {n}", language=Language.BEMBA, pin_hash="h"
            )
            for n in range(users)
        ]

    return Market(await store.atomic(work))


def make_order(
    seq: int,
    user_id: int,
    side: Side,
    price: int,
    wh: int = 1_000,
    *,
    cluster_id: str = KABWE,
    slot: int = T0 + 4 * SLOT,
    good_for_day: bool = False,
    trade_until: int | None = None,
    expires_at: int | None = None,
    state: OrderState = OrderState.OPEN,
    created_at: int | None = None,
) -> Order:
    """Order ``seq`` of its cluster, as placing it would store it (open, its reservation whole)."""
    reserved = money_of(wh * price) if side is Side.BUY else wh
    return Order(
        id=f"op-{cluster_id}-{seq}",
        reference=f"MK{seq:05d}",
        cluster_id=cluster_id,
        user_id=user_id,
        side=side,
        price=price,
        wh=wh,
        remaining_wh=wh,
        slot_start_us=slot,
        good_for_day=good_for_day,
        trade_until_us=slot - GATE if trade_until is None else trade_until,
        expires_at_us=slot + SLOT if expires_at is None else expires_at,
        seq=seq,
        state=state,
        created_at_us=T0 + seq * S if created_at is None else created_at,
        updated_at_us=T0 + seq * S if created_at is None else created_at,
        reserved=reserved,
    )


def make_trade(
    seq: int, buyer: int, seller: int, price: int, wh: int, *, cluster_id: str = KABWE, at: int | None = None
) -> Trade:
    money = money_of(wh * price)
    return Trade(
        id=f"{cluster_id}:t{seq}",
        cluster_id=cluster_id,
        seq=seq,
        slot_start_us=T0 + 4 * SLOT,
        buy_order_id=f"op-buy-{seq}",
        sell_order_id=f"op-sell-{seq}",
        buyer_id=buyer,
        seller_id=seller,
        taker=Side.BUY,
        price=price,
        wh=wh,
        buyer_paid_ngwee=money,
        seller_received_ngwee=money,
        fee_ngwee=0,
        at_us=T0 + seq * S if at is None else at,
    )


async def place(store: Store, *orders: Order) -> list[bool]:
    async def work(r: Repositories) -> list[bool]:
        return [await r.markets.insert_order(o) for o in orders]

    return await store.atomic(work)


async def record_trades(store: Store, *trades: Trade) -> None:
    async def work(r: Repositories) -> None:
        for trade in trades:
            await r.markets.insert_trade(trade)

    await store.atomic(work)


def ids(orders: Sequence[Order]) -> list[str]:
    return [o.id for o in orders]
