"""What the energy context needs from a database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from engine.energy.model import Cluster
from engine.identity.ports import UserReader
from engine.kernel.unit_of_work import RecordsEvents, Units
from engine.ledger.ports import LedgerReader, LedgerWriter


class ClusterReader(Protocol):
    async def cluster_by_id(self, cluster_id: str) -> Cluster | None: ...

    async def clusters_by_ids(self, cluster_ids: Sequence[str]) -> dict[str, Cluster]:
        """The clusters among ``cluster_ids`` that exist, by id (one read for many)."""
        ...

    async def list_clusters(self, *, region: str | None = None) -> list[Cluster]: ...

    async def cluster_regions(self) -> list[str]: ...


class ClusterWriter(ClusterReader, Protocol):
    async def insert_cluster(self, cluster: Cluster) -> Cluster:
        """Raises :class:`engine.errors.ClusterExists` if the id is taken."""
        ...

    async def set_cluster_price(self, cluster_id: str, price_ngwee_per_kwh: int) -> bool:
        """Change the cluster's energy price; False if there is no such cluster."""
        ...


class EnergyUnit(RecordsEvents, Protocol):
    """What the energy services touch inside one transaction."""

    @property
    def clusters(self) -> ClusterWriter: ...

    @property
    def users(self) -> UserReader: ...

    @property
    def ledger(self) -> LedgerWriter: ...


class EnergyReads(Protocol):
    @property
    def clusters(self) -> ClusterReader: ...

    @property
    def ledger(self) -> LedgerReader: ...


EnergyUnits = Units[EnergyUnit, EnergyReads]
