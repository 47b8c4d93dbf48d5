"""Buying energy from a community cluster (menus/features/buy.yaml): region, cluster, kWh, PIN.

The clusters and the kWh question show each cluster's price now (its posted
price for this slot). The cost shown before the PIN is a quote
(``platform.prices.quote``: the month's lifeline allowance first, said
briefly when there is one), and the purchase pays exactly that quote. A
quote lives about a minute: one that expired before the PIN came is quoted
again and shown on the same screen, to be confirmed with the PIN again;
a new price is never charged silently.
"""

from __future__ import annotations

from engine.energy.clusters import ClusterView
from engine.identity.model import User
from engine.kernel.errors import ClusterCapacityShort, EnerlectraError, OutflowHeld
from engine.markets.errors import QuoteExpired, QuoteNotFound
from engine.markets.model import Quote
from engine.markets.prices import PostedPrice
from ussd_server.menu.context import Hop
from ussd_server.menu.features.coop_text import WRONG_PIN, Reason, fitted
from ussd_server.menu.features.gates import failure, need_user, verified
from ussd_server.menu.registry import Feature, Item, Outcome

QUOTE = "quote"  # session value: the id of the quote the PIN screen shows
# The one-line reasons the PIN screen may show above its summary.
_PIN_REASONS: tuple[Reason, ...] = (WRONG_PIN, ("err.quote_expired", {}))


async def posted(hop: Hop, cluster_id: str) -> PostedPrice:
    """A cluster's price now (posted by this read if nobody has yet), read once per hop."""
    key = f"price:{cluster_id}"
    seen = hop.seen.get(key)
    if isinstance(seen, PostedPrice):
        return seen
    found = await hop.platform.prices.current(cluster_id)
    hop.seen[key] = found
    return found


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
    items = []
    for v in views:
        if v.available_wh > 0:
            price = (await posted(hop, v.cluster.id)).price
            items.append(Item(v.cluster.id, {"name": v.cluster.name, "price": price, "available": v.available_wh}))
    return items


async def cluster_summary(hop: Hop) -> Outcome:
    cluster_id = str(hop.session.values.get("cluster", ""))
    seen = hop.seen.get(_seen(cluster_id))
    view = seen if isinstance(seen, ClusterView) else await hop.platform.clusters.get(cluster_id)
    return Outcome(
        values={
            "cluster_name": view.cluster.name,
            "price": (await posted(hop, cluster_id)).price,
            "available": view.available_wh,
        },
        keep=False,
    )


def _quoted(hop: Hop, name: str, quote: Quote) -> dict[str, object]:
    """What the PIN screen shows of a quote, the cluster's name shortened if the screen needs it."""
    values: dict[str, object] = {
        "wh": quote.wh,
        "cluster_name": name,
        "cost": quote.cost_ngwee,
        "lifeline_wh": quote.lifeline_wh,
    }
    key = "buy.confirm_lifeline" if quote.lifeline_wh else "buy.confirm"
    return fitted(hop, key, values, shrink="cluster_name", reasons=_PIN_REASONS)


async def _quote(hop: Hop, user: User) -> Outcome:
    """A new quote for the kWh typed, checked against the cluster's pool and the wallet before the PIN."""
    values = hop.session.values
    wh = int(values.get("wh", 0))
    try:
        view = await hop.platform.clusters.get(str(values.get("cluster", "")))
        if view.available_wh < wh:
            return Outcome(route="cluster_capacity_short", values={"available": view.available_wh}, keep=False)
        quote = await hop.platform.prices.quote(user, view.cluster.id, wh)
    except EnerlectraError as exc:
        return failure(exc)
    money = (await hop.platform.wallet.balances(user)).ngwee
    if money < quote.cost_ngwee:  # say so before asking for the PIN
        return Outcome(route="insufficient_funds", values={"ngwee": money}, keep=False)
    values[QUOTE] = quote.id
    values["attempt"] = int(values.get("attempt", 0)) + 1
    return Outcome(values=_quoted(hop, view.cluster.name, quote))


async def quote_purchase(hop: Hop) -> Outcome:
    return await _quote(hop, await need_user(hop))


async def buy_energy(hop: Hop) -> Outcome:
    checked = await verified(hop)
    if isinstance(checked, Outcome):
        return checked
    user, values = checked.user, hop.session.values
    try:
        receipt = await hop.platform.prices.buy(
            checked.proof, user, str(values.get(QUOTE, "")), operation_id=hop.operation_id("buy")
        )
    except (QuoteExpired, QuoteNotFound):
        # Too late for that price: the new one is shown on the same screen, for the PIN again.
        again = await _quote(hop, user)
        return again if again.route != "ok" else Outcome(route="requoted", values=again.values)
    except OutflowHeld as exc:
        return Outcome(route=exc.code, keep=False)
    except ClusterCapacityShort as exc:
        view = await hop.platform.clusters.get(str(values.get("cluster", "")))
        return failure(exc, available=view.available_wh)
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
