"""The slot job of a cluster's market: expire what is due, tell folded fills, post the new slot's price.

One job per cluster (``market.slot``, keyed by the cluster id), due at every
slot boundary; it returns when it is due next, so a market runs without
anyone touching it. A slot with more due than one batch runs again at once.
"""

from __future__ import annotations

from engine.kernel.clock import MICROS_PER_SECOND, Clock
from engine.markets.config import MarketConfig
from engine.markets.events import FillsFolded
from engine.markets.model import OrderState
from engine.markets.orders import OrderService
from engine.markets.ports import MarketUnit, MarketUnits
from engine.markets.prices import PriceService
from engine.markets.pricing import slot_start_us

BATCH = 200


class SlotCloser:
    def __init__(
        self, units: MarketUnits, market: MarketConfig, clock: Clock, prices: PriceService, orders: OrderService
    ) -> None:
        self._units = units
        self._market = market
        self._clock = clock
        self._prices = prices
        self._orders = orders

    async def close_slot(self, cluster_id: str) -> int | None:
        """The slot job: expire what is due, tell folded fills, post the new slot's price; when to run next."""
        now = self._clock.now_us()
        batch = BATCH

        async def work(uow: MarketUnit) -> bool:
            await uow.markets.lock_market(cluster_id)
            cluster = await uow.clusters.cluster_by_id(cluster_id)
            if cluster is None:
                return False
            due = await uow.markets.due_expiries(cluster_id, now_us=now, limit=batch)
            owners = await uow.users.users_by_ids(sorted({o.user_id for o in due}))
            for order in due:
                owner = owners.get(order.user_id)
                if owner is not None:
                    await self._orders.close(uow, order, owner, OrderState.EXPIRED, "expired", now)
            posted = await self._prices.post(uow, cluster, slot_start_us(now, self._market.slot_s))
            notices = await uow.markets.notices_to_fold(
                cluster_id, slot_before_us=posted.slot.slot_start_us, limit=batch
            )
            folks = await uow.users.users_by_ids(sorted({n.user_id for n in notices}))
            for notice in notices:
                await uow.markets.mark_told(notice.user_id, cluster_id, notice.slot_start_us, notice.fills)
                person = folks.get(notice.user_id)
                if person is not None:
                    uow.record(
                        FillsFolded(
                            operation_id=f"fold:{cluster_id}:{notice.slot_start_us}:{notice.user_id}",
                            at_us=now,
                            notice=notice,
                            owner=person,
                            cluster_name=cluster.name,
                        )
                    )
            return len(due) == batch or len(notices) == batch

        more = await self._units.run(work)
        if more:
            return now
        await self._prices.forget_quotes()
        return slot_start_us(now, self._market.slot_s) + self._market.slot_s * MICROS_PER_SECOND
