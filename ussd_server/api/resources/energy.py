"""Solar clusters: browse them and buy energy (PIN and Idempotency-Key, as a confirmed purchase on USSD)."""

from __future__ import annotations

import re

from engine.kernel.errors import ClusterNotFound
from ussd_server.api import scopes
from ussd_server.api.models.energy import CLUSTER_ID_PATTERN, BuyEnergy, Cluster, ClusterQuery, Purchase, Regions
from ussd_server.api.pins import verified
from ussd_server.api.routing import Call, Idempotency, Reply, Route

_CLUSTER_ID = re.compile(CLUSTER_ID_PATTERN)


def _cluster_id(call: Call) -> str:
    cluster_id = call.path("cluster_id")
    if not _CLUSTER_ID.match(cluster_id):  # no such cluster can exist: no need to ask the database
        raise ClusterNotFound("no such cluster", cluster_id=cluster_id[:60])
    return cluster_id


async def clusters(call: Call) -> Reply:
    query = call.query_as(ClusterQuery)
    return Reply([Cluster.of(v) for v in await call.platform.clusters.list(region=query.region)])


async def cluster(call: Call) -> Reply:
    return Reply(Cluster.of(await call.platform.clusters.get(_cluster_id(call))))


async def regions(call: Call) -> Reply:
    return Reply(Regions(regions=await call.platform.clusters.regions()))


async def buy(call: Call) -> Reply:
    body, user = call.body_as(BuyEnergy), call.user()
    cluster_id = _cluster_id(call)
    await verified(call, user, body.pin)
    receipt = await call.platform.clusters.buy(
        buyer=user, cluster_id=cluster_id, wh=body.wh, operation_id=call.operation_id
    )
    return Reply(Purchase.of(receipt), status=201)


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
    Route(
        "POST",
        "/clusters/{cluster_id}/purchases",
        buy,
        "Buy energy from a cluster",
        "clusters",
        scopes.USER,
        data=Purchase,
        status=201,
        body=BuyEnergy,
        idempotency=Idempotency.REQUIRED,
        kind="buy",
        pin=True,
        path_patterns={"cluster_id": CLUSTER_ID_PATTERN},
        description="Money to the cluster, energy to you, and an SMS receipt, as on USSD. Refusals: "
        "`INSUFFICIENT_FUNDS`, `CLUSTER_CAPACITY_SHORT`, `AMOUNT_TOO_SMALL`, `WRONG_PIN`, `PIN_LOCKED`.",
    ),
)
