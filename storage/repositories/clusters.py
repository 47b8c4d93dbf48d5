"""The energy context's repository, written once for SQLite and PostgreSQL (engine.energy.ports)."""

from __future__ import annotations

from collections.abc import Sequence

from engine.energy.model import Cluster
from engine.kernel.errors import ClusterExists
from storage.dialect import Executor, sql
from storage.tables import CLUSTERS

_BY_ID = sql(f"SELECT {CLUSTERS.select} FROM clusters WHERE id = $1")
_BY_IDS = sql(f"SELECT {CLUSTERS.select} FROM clusters WHERE id = ANY($1::text[])")
_ALL = sql(f"SELECT {CLUSTERS.select} FROM clusters ORDER BY region, name")
_IN_REGION = sql(f"SELECT {CLUSTERS.select} FROM clusters WHERE region = $1 ORDER BY name")
_REGIONS = sql("SELECT DISTINCT region FROM clusters ORDER BY region")
# ON CONFLICT rather than a unique violation, which would abort a PostgreSQL transaction.
_INSERT = sql(f"{CLUSTERS.insert} ON CONFLICT (id) DO NOTHING")
_SET_PRICE = sql("UPDATE clusters SET price_ngwee_per_kwh = $2 WHERE id = $1")


class ClusterReads:
    """engine.energy.ports.ClusterReader over one executor."""

    def __init__(self, db: Executor) -> None:
        self._db = db

    async def cluster_by_id(self, cluster_id: str) -> Cluster | None:
        row = await self._db.fetch_one(_BY_ID, cluster_id)
        return CLUSTERS.record(row) if row is not None else None

    async def clusters_by_ids(self, cluster_ids: Sequence[str]) -> dict[str, Cluster]:
        if not cluster_ids:
            return {}
        clusters = (CLUSTERS.record(r) for r in await self._db.fetch(_BY_IDS, list(cluster_ids)))
        return {c.id: c for c in clusters}

    async def list_clusters(self, *, region: str | None = None) -> list[Cluster]:
        rows = await (self._db.fetch(_ALL) if region is None else self._db.fetch(_IN_REGION, region))
        return [CLUSTERS.record(r) for r in rows]

    async def cluster_regions(self) -> list[str]:
        return [r[0] for r in await self._db.fetch(_REGIONS)]


class ClusterRepository(ClusterReads):
    """engine.energy.ports.ClusterWriter inside one open transaction."""

    async def insert_cluster(self, cluster: Cluster) -> Cluster:
        if not await self._db.execute(_INSERT, *CLUSTERS.values(cluster)):
            raise ClusterExists("cluster exists", cluster_id=cluster.id)
        return cluster

    async def set_cluster_price(self, cluster_id: str, price_ngwee_per_kwh: int) -> bool:
        return await self._db.execute(_SET_PRICE, cluster_id, price_ngwee_per_kwh) == 1
