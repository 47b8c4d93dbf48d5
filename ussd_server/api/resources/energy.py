"""Solar clusters: browse them (buying from one, at a quoted price, is in ``markets``)."""

from __future__ import annotations

import re

from engine.kernel.errors import ClusterNotFound
from ussd_server.api import scopes
from ussd_server.api.models.energy import CLUSTER_ID_PATTERN, Cluster, ClusterQuery, Regions
from ussd_server.api.routing import Call, Reply, Route

_CLUSTER_ID = re.compile(CLUSTER_ID_PATTERN)


def cluster_id_of(call: Call) -> str:
    cluster_id = call.path("cluster_id")
    if not _CLUSTER_ID.match(cluster_id):  # no such cluster can exist: no need to ask the database
        raise ClusterNotFound("no such cluster", cluster_id=cluster_id[:60])
    return cluster_id


async def clusters(call: Call) -> Reply:
    query = call.query_as(ClusterQuery)
    return Reply([Cluster.of(v) for v in await call.platform.clusters.list(region=query.region)])


async def cluster(call: Call) -> Reply:
    return Reply(Cluster.of(await call.platform.clusters.get(cluster_id_of(call))))


async def regions(call: Call) -> Reply:
    return Reply(Regions(regions=await call.platform.clusters.regions()))


ROUTES = (
    Route(
        "GET",
        "/clusters",
        clusters,
        "Solar clusters, by region",
        "clusters",
        scopes.READERS,
        data=list[Cluster],
        query=ClusterQuery,
    ),
    Route("GET", "/regions", regions, "Regions that have clusters", "clusters", scopes.READERS, data=Regions),
    Route(
        "GET",
        "/clusters/{cluster_id}",
        cluster,
        "One cluster",
        "clusters",
        scopes.READERS,
        data=Cluster,
        path_patterns={"cluster_id": CLUSTER_ID_PATTERN},
    ),
)
