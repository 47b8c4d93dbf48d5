"""Realistic demo data: clusters across Zambia and a few users who have traded; co-ops with their history.

Safe to run twice: existing users and clusters are kept, and every demo
operation has a fixed id, so nothing is applied twice. The co-ops
(:mod:`ussd_server.demo_coops`) need the settings: their history is made by
a second platform, on a clock set weeks back, over the same database.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from engine.energy.model import ClusterKind
from engine.kernel.errors import AlreadyRegistered, ClusterExists
from engine.kernel.language import Language
from engine.platform import Platform
from ussd_server.demo_coops import DEMO_PIN, seed_coops
from ussd_server.demo_markets import seed_markets
from ussd_server.settings import Settings

__all__ = ["DEMO_PIN", "seed_demo", "seed_everything", "seed_if_empty"]
log = logging.getLogger("enerlectra")


@dataclass(frozen=True)
class DemoCluster:
    id: str
    name: str
    kind: ClusterKind
    region: str
    capacity_kwh: int
    price_ngwee: int


CLUSTERS = (
    DemoCluster("lsk-kabulonga-micro", "Kabulonga Micro-Grid", ClusterKind.MICRO, "Lusaka", 250, 115),
    DemoCluster("lsk-chelstone-solar", "Chelstone Neighbourhood Solar", ClusterKind.NEIGHBOURHOOD, "Lusaka", 1200, 120),
    DemoCluster("kbw-campus-solar", "Kabwe Campus Solar Co-op", ClusterKind.NEIGHBOURHOOD, "Kabwe", 800, 110),
    DemoCluster("cb-kitwe-solar-park", "Kitwe Industrial Solar Park", ClusterKind.INDUSTRIAL, "Copperbelt", 5000, 105),
    DemoCluster("cb-ndola-supplies", "Ndola Solar Supplies", ClusterKind.SUPPLY, "Copperbelt", 2000, 125),
    DemoCluster("rural-chongwe-village", "Chongwe Village Micro-Grid", ClusterKind.MICRO, "Rural", 120, 130),
)

USERS = (
    ("+260977123456", "Mwila Banda", Language.BEMBA),
    ("+260966234567", "Chipo Phiri", Language.NYANJA),
    ("+260955345678", "Natasha Mulenga", Language.ENGLISH),
    ("+260761456789", "Joseph Tembo", Language.NYANJA),
)


async def seed_demo(platform: Platform) -> dict[str, int]:
    made = {"clusters": 0, "users": 0}
    for c in CLUSTERS:
        try:
            await platform.clusters.create(
                cluster_id=c.id,
                name=c.name,
                kind=c.kind,
                region=c.region,
                capacity_wh=c.capacity_kwh * 1000,
                price_ngwee_per_kwh=c.price_ngwee,
            )
            made["clusters"] += 1
        except ClusterExists:
            pass
    for phone, name, language in USERS:
        try:
            await platform.users.register(phone=phone, name=name, language=language, pin=DEMO_PIN)
            made["users"] += 1
        except AlreadyRegistered:
            pass
    mwila = await platform.users.get(USERS[0][0])
    chipo = await platform.users.get(USERS[1][0])
    await platform.clusters.buy(buyer=mwila, cluster_id="lsk-kabulonga-micro", wh=2500, operation_id="demo:buy:1")
    await platform.clusters.buy(buyer=chipo, cluster_id="rural-chongwe-village", wh=1500, operation_id="demo:buy:2")
    await platform.trading.trade(
        seller=mwila, buyer_phone=chipo.phone, wh=500, price_ngwee_per_kwh=125, operation_id="demo:trade:1"
    )
    return made


async def seed_everything(platform: Platform, settings: Settings) -> dict[str, int]:
    """The demo clusters and users, the demo co-ops and their history, the market's (``enerlectra demo seed``)."""
    coops = await seed_coops(settings, USERS)  # first: it registers the demo users when their history begins
    made = await seed_demo(platform)
    market = await seed_markets(settings, [c.id for c in CLUSTERS])  # prices, then orders: clusters and users exist
    return (
        made | market | {"users": made["users"] + coops["users"], "coops": coops["coops"], "members": coops["members"]}
    )


async def seed_if_empty(platform: Platform, settings: Settings | None = None) -> dict[str, int] | None:
    """The demo data, only into a database with no clusters and no users (a new dev server's first start).

    None if there was anything: a database someone has used is never touched. With ``settings``,
    the demo co-ops too; if they cannot be made, the server starts without them (the log says why).
    """
    if (await platform.users.counts())["total"] or await platform.clusters.list():
        return None
    if settings is None:
        return await seed_demo(platform)
    try:
        return await seed_everything(platform, settings)
    except Exception:  # demo data must never keep a dev server from starting
        log.exception("the demo co-ops could not be made; starting without them")
        return await seed_demo(platform)
