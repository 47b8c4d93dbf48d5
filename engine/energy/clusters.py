"""Community solar clusters as energy sources: listing, generation and purchases."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from engine.energy.events import EnergyBought
from engine.energy.model import Cluster, ClusterKind, cluster_accounts
from engine.energy.ports import EnergyUnit, EnergyUnits
from engine.identity.model import User
from engine.kernel.clock import Clock
from engine.kernel.config import EngineConfig
from engine.kernel.errors import (
    AmountNotPositive,
    AmountTooSmall,
    ClusterCapacityShort,
    ClusterNotFound,
    EnerlectraError,
    InsufficientFunds,
    InvalidCluster,
    InvalidPrice,
    UserNotFound,
)
from engine.kernel.references import reference_for
from engine.kernel.units import cost_of_energy
from engine.ledger.accounts import ENERGY_ISSUANCE
from engine.ledger.model import CreateTransferResult, Ledger, Transfer, TransferCode
from engine.ledger.operations import apply_operation, new_operation_id

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$")


@dataclass(frozen=True, slots=True)
class ClusterView:
    cluster: Cluster
    available_wh: int  # energy still for sale in the pool

    @property
    def utilisation_permille(self) -> int:
        """Share of nameplate capacity already sold, in tenths of a percent."""
        if self.cluster.capacity_wh <= 0:
            return 0
        sold = max(self.cluster.capacity_wh - self.available_wh, 0)
        return min(sold * 1000 // self.cluster.capacity_wh, 1000)


@dataclass(frozen=True, slots=True)
class PurchaseReceipt:
    reference: str
    cluster_id: str
    cluster_name: str
    wh: int
    price_ngwee_per_kwh: int
    cost_ngwee: int
    replayed: bool


class ClusterService:
    def __init__(self, units: EnergyUnits, config: EngineConfig, clock: Clock) -> None:
        self._units = units
        self._config = config
        self._clock = clock

    async def create(
        self,
        *,
        cluster_id: str,
        name: str,
        kind: ClusterKind | str,
        region: str,
        capacity_wh: int,
        price_ngwee_per_kwh: int,
    ) -> Cluster:
        """Register a cluster, open its pool and treasury, and stock the pool to capacity."""
        if not _SLUG.match(cluster_id):
            raise InvalidCluster("cluster id must be a short lowercase slug", cluster_id=cluster_id)
        if not name.strip() or not region.strip():
            raise InvalidCluster("cluster needs a name and a region")
        try:
            kind = ClusterKind(kind)
        except ValueError:
            raise InvalidCluster("unknown cluster type", kind=str(kind)) from None
        if capacity_wh < 0:
            raise AmountNotPositive("capacity must not be negative")
        if price_ngwee_per_kwh <= 0:
            raise InvalidPrice("price must be positive")
        cluster = Cluster(
            id=cluster_id,
            name=name.strip(),
            kind=kind,
            region=region.strip(),
            capacity_wh=capacity_wh,
            price_ngwee_per_kwh=price_ngwee_per_kwh,
            created_at=self._clock.now_us(),
        )

        async def work(uow: EnergyUnit) -> Cluster:
            await uow.clusters.insert_cluster(cluster)
            await uow.ledger.create_accounts(cluster_accounts(cluster))
            if capacity_wh:
                await self._generate(uow, cluster, capacity_wh, f"generation:{cluster.id}:initial")
            return cluster

        return await self._units.run(work)

    async def record_generation(self, cluster_id: str, wh: int, *, operation_id: str | None = None) -> None:
        """Add generated energy to a cluster's pool (idempotent per operation id)."""
        if wh <= 0:
            raise AmountNotPositive("energy must be positive")

        async def work(uow: EnergyUnit) -> None:
            cluster = await uow.clusters.cluster_by_id(cluster_id)
            if cluster is None:
                raise ClusterNotFound("no such cluster", cluster_id=cluster_id)
            await self._generate(uow, cluster, wh, operation_id or new_operation_id())

        await self._units.run(work)

    async def _generate(self, uow: EnergyUnit, cluster: Cluster, wh: int, operation: str) -> None:
        transfer = Transfer(
            id=operation,
            debit_account_id=ENERGY_ISSUANCE,
            credit_account_id=cluster.pool_account_id,
            amount=wh,
            ledger=Ledger.KWH,
            code=TransferCode.CLUSTER_GENERATION,
            reference=reference_for(operation),
        )
        await apply_operation(uow.ledger, [transfer], lambda _i, _r: None)

    async def regions(self) -> list[str]:
        return await self._units.reads.clusters.cluster_regions()

    async def list(self, *, region: str | None = None) -> list[ClusterView]:
        clusters = await self._units.reads.clusters.list_clusters(region=region)
        pools = await self._units.reads.ledger.lookup_accounts([c.pool_account_id for c in clusters])
        return [
            ClusterView(c, pools[c.pool_account_id].available if c.pool_account_id in pools else 0) for c in clusters
        ]

    async def get(self, cluster_id: str) -> ClusterView:
        cluster = await self._units.reads.clusters.cluster_by_id(cluster_id)
        if cluster is None:
            raise ClusterNotFound("no such cluster", cluster_id=cluster_id)
        pools = await self._units.reads.ledger.lookup_accounts([cluster.pool_account_id])
        pool = pools.get(cluster.pool_account_id)
        return ClusterView(cluster, pool.available if pool else 0)

    def quote(self, cluster: Cluster, wh: int) -> int:
        if wh <= 0:
            raise AmountNotPositive("energy must be positive")
        cost = cost_of_energy(wh, cluster.price_ngwee_per_kwh)
        if cost == 0:
            raise AmountTooSmall("too little energy to charge for", wh=wh)
        return cost

    async def buy(self, *, buyer: User, cluster_id: str, wh: int, operation_id: str | None = None) -> PurchaseReceipt:
        """Buy ``wh`` from a cluster: ZMW to its treasury, kWh out of its pool."""
        operation = operation_id or new_operation_id()
        reference = reference_for(operation)

        async def work(uow: EnergyUnit) -> PurchaseReceipt:
            cluster = await uow.clusters.cluster_by_id(cluster_id)
            if cluster is None:
                raise ClusterNotFound("no such cluster", cluster_id=cluster_id)
            user = await uow.users.user_by_id(buyer.id)
            if user is None:
                raise UserNotFound("buyer not registered")
            cost = self.quote(cluster, wh)
            transfers, refusal = purchase(operation, cluster, user, wh, cost, reference)
            replayed = await apply_operation(uow.ledger, transfers, refusal)
            if not replayed:
                event = EnergyBought(
                    operation_id=operation,
                    at_us=self._clock.now_us(),
                    buyer=user,
                    cluster=cluster,
                    wh=wh,
                    cost_ngwee=cost,
                    reference=reference,
                )
                uow.record(event)
            return PurchaseReceipt(reference, cluster.id, cluster.name, wh, cluster.price_ngwee_per_kwh, cost, replayed)

        return await self._units.run(work)


def purchase(
    operation: str, cluster: Cluster, buyer: User, wh: int, cost: int, reference: str
) -> tuple[list[Transfer], Callable[[int, CreateTransferResult], EnerlectraError | None]]:
    """The transfers of buying ``wh`` from a cluster for ``cost`` (kWh out of its pool, ZMW to its treasury),
    and what the ledger's refusal of either means to the buyer."""
    transfers = [
        Transfer(
            id=f"{operation}:energy",
            debit_account_id=cluster.pool_account_id,
            credit_account_id=buyer.kwh_account_id,
            amount=wh,
            ledger=Ledger.KWH,
            code=TransferCode.CLUSTER_ENERGY,
            reference=reference,
        ),
        Transfer(
            id=f"{operation}:payment",
            debit_account_id=buyer.zmw_account_id,
            credit_account_id=cluster.treasury_account_id,
            amount=cost,
            ledger=Ledger.ZMW,
            code=TransferCode.CLUSTER_PAYMENT,
            reference=reference,
        ),
    ]

    def refusal(index: int, result: CreateTransferResult) -> EnerlectraError | None:
        if result is CreateTransferResult.EXCEEDS_CREDITS:
            if index == 0:
                return ClusterCapacityShort("cluster has not enough energy left", wh=wh)
            return InsufficientFunds("not enough money", ngwee=cost)
        return None

    return transfers, refusal
