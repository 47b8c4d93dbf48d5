"""Buying energy from a community cluster (menus/features/buy.yaml): region, cluster, kWh, PIN."""

from __future__ import annotations

from engine.energy.clusters import ClusterView
from engine.kernel.errors import EnerlectraError
from ussd_server.menu.context import Hop
from ussd_server.menu.features.gates import failure, need_user, verified
from ussd_server.menu.registry import Feature, Item, Outcome


async def regions(hop: Hop) -> list[Item]:
    """Regions in the configured order (REGION_ORDER), any other after it, A-Z."""
    order = {name.casefold(): i for i, name in enumerate(hop.settings.region_order)}
    found = await hop.platform.clusters.regions()
    ranked = sorted(found, key=lambda r: (order.get(r.casefold(), len(order)), r.casefold()))
    return [Item(r, {"region": r}) for r in ranked]


def _seen(cluster_id: str) -> str:
    return f"cluster:{cluster_id}"


async def clusters(hop: Hop) -> list[Item]:
    views = await hop.platform.clusters.list(region=str(hop.session.values.get("region", "")))
    hop.seen.update((_seen(v.cluster.id), v) for v in views)  # the pick's summary, shown in this hop
    return [
        Item(
            v.cluster.id, {"name": v.cluster.name, "price": v.cluster.price_ngwee_per_kwh, "available": v.available_wh}
        )
        for v in views
        if v.available_wh > 0
    ]


async def cluster_summary(hop: Hop) -> Outcome:
    cluster_id = str(hop.session.values.get("cluster", ""))
    seen = hop.seen.get(_seen(cluster_id))
    view = seen if isinstance(seen, ClusterView) else await hop.platform.clusters.get(cluster_id)
    return Outcome(
        values={
            "cluster_name": view.cluster.name,
            "price": view.cluster.price_ngwee_per_kwh,
            "available": view.available_wh,
        },
        keep=False,
    )


async def quote_purchase(hop: Hop) -> Outcome:
    values = hop.session.values
    wh = int(values.get("wh", 0))
    try:
        view = await hop.platform.clusters.get(str(values.get("cluster", "")))
        if view.available_wh < wh:
            return Outcome(route="cluster_capacity_short", values={"available": view.available_wh}, keep=False)
        cost = hop.platform.clusters.quote(view.cluster, wh)
    except EnerlectraError as exc:
        return failure(exc)
    money = (await hop.platform.wallet.balances(await need_user(hop))).ngwee
    if money < cost:  # say so before asking for the PIN
        return Outcome(route="insufficient_funds", values={"ngwee": money}, keep=False)
    values["attempt"] = int(values.get("attempt", 0)) + 1
    return Outcome(values={"cluster_name": view.cluster.name, "cost": cost})


async def buy_energy(hop: Hop) -> Outcome:
    checked = await verified(hop)
    if isinstance(checked, Outcome):
        return checked
    user, values = checked.user, hop.session.values
    try:
        receipt = await hop.platform.clusters.buy(
            buyer=user,
            cluster_id=str(values["cluster"]),
            wh=int(values["wh"]),
            operation_id=hop.operation_id("buy"),
        )
    except EnerlectraError as exc:
        balance = await hop.platform.wallet.balances(user)
        return failure(exc, ngwee=balance.ngwee)
    after = await hop.platform.wallet.balances(user)
    hop.sms_queued = True
    hop.session.back.clear()
    return Outcome(
        values={"ref": receipt.reference, "cost": receipt.cost_ngwee, "ngwee": after.ngwee, "bal_wh": after.wh}
    )


FEATURE = Feature(
    name="buy",
    actions={"cluster_summary": cluster_summary, "quote_purchase": quote_purchase, "buy_energy": buy_energy},
    sources={"regions": regions, "clusters": clusters},
)
