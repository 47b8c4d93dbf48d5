"""Platform-wide figures: statistics and carbon for dashboards, the USSD funnel for operators."""

from __future__ import annotations

from ussd_server.api import scopes
from ussd_server.api.models.energy import Carbon
from ussd_server.api.models.platform import FunnelScreen, Stats, UserCounts
from ussd_server.api.routing import Call, Reply, Route


async def stats(call: Call) -> Reply:
    counts = await call.platform.users.counts()
    clusters = await call.platform.clusters.list()
    carbon = await call.platform.carbon.platform()
    users = UserCounts(total=counts["total"], by_language={k: v for k, v in counts.items() if k != "total"})
    return Reply(
        Stats(
            users=users,
            clusters=len(clusters),
            energy_available_wh=sum(v.available_wh for v in clusters),
            carbon=Carbon.of(carbon),
        )
    )


async def platform_carbon(call: Call) -> Reply:
    return Reply(Carbon.of(await call.platform.carbon.platform()))


async def ussd_funnel(call: Call) -> Reply:
    return Reply([FunnelScreen.of(row) for row in await call.platform.ussd_funnel()])


ROUTES = (
    Route(
        "GET", "/platform/stats", stats, "Users, clusters, energy and carbon", "platform", scopes.READ_KEYS, data=Stats
    ),
    Route(
        "GET",
        "/platform/carbon",
        platform_carbon,
        "Carbon saved by all renewable energy delivered",
        "platform",
        scopes.READERS,
        data=Carbon,
    ),
    Route(
        "GET",
        "/platform/ussd-funnel",
        ussd_funnel,
        "How USSD sessions ended, per last screen",
        "platform",
        scopes.ADMINS,
        data=list[FunnelScreen],
    ),
)
