"""My orders in a cluster's market (menus/features/market.yaml): the open ones, one in full, cancelling with the PIN.

The list holds the member's open orders in the cluster whose market is open,
newest first, a short line each ("Buy 2 kWh @K1.20 1/2 filled"), paged with
``98``. Cancelling releases what the order still holds, and says how much.
"""

from __future__ import annotations

from engine.kernel.errors import EnerlectraError
from engine.kernel.units import format_energy
from engine.markets.matching import buy_hold
from engine.markets.model import Order, Side
from ussd_server.menu.context import Hop
from ussd_server.menu.features.gates import failure, need_user, verified
from ussd_server.menu.features.market import cluster_id, until_text
from ussd_server.menu.registry import Feature, Item, Outcome

ORDER = "market_order"  # session value: the id of the order picked from the list


def kwh(wh: int) -> str:
    """``1500`` -> ``1.5``: energy without its unit, for "1.5/2 filled"."""
    return format_energy(wh).removesuffix(" kWh")


def side_word(hop: Hop, order: Order) -> str:
    return hop.text("market.side", side_no=1 if order.side is Side.BUY else 2)


async def my_orders(hop: Hop) -> list[Item]:
    """The member's open orders in this cluster (a member holds at most the market's cap of open orders)."""
    user = await need_user(hop)
    most = hop.platform.prices.market.max_open_orders_per_user
    orders = await hop.platform.orders.my_orders(user, active=True, limit=most + 1)
    here = cluster_id(hop)
    return [
        Item(
            o.id,
            {
                "side": side_word(hop, o),
                "wh": o.wh,
                "price": o.price,
                "fill": f"{kwh(o.filled_wh)}/{kwh(o.wh)}",
            },
        )
        for o in orders
        if o.cluster_id == here
    ]


async def _picked(hop: Hop) -> Order:
    user = await need_user(hop)
    return await hop.platform.orders.order_for(user, str(hop.session.values.get(ORDER, "")))


def _money(order: Order) -> int:
    """What its fills paid (fees included) or received so far."""
    return order.money_ngwee + (order.fees_ngwee if order.side is Side.BUY else 0)


async def order_view(hop: Hop) -> Outcome:
    order = await _picked(hop)
    values = {
        "wh": order.wh,
        "price": order.price,
        "fill": f"{kwh(order.filled_wh)}/{kwh(order.wh)}",
        "money": _money(order),
        "until": until_text(hop, order),
        "ref": order.reference,
        "selling": int(order.side is Side.SELL),
    }
    return Outcome(values=values, keep=False)


def released(hop: Hop, order: Order) -> int:
    """What an open order holds now, so what cancelling it gives back: money for a buy, energy for a sell."""
    if order.side is Side.SELL:
        return order.remaining_wh
    return buy_hold(order, hop.platform.prices.market.fee_bps)


async def cancel_terms(hop: Hop) -> Outcome:
    order = await _picked(hop)
    held = released(hop, order) if order.state.active else 0
    selling = order.side is Side.SELL
    return Outcome(values={"ngwee": held, "have_wh": held, "selling": int(selling)}, keep=False)


async def cancel_order(hop: Hop) -> Outcome:
    checked = await verified(hop)
    if isinstance(checked, Outcome):
        return checked
    try:
        order = await hop.platform.orders.cancel(checked.proof, checked.user, str(hop.session.values.get(ORDER, "")))
    except EnerlectraError as exc:
        return failure(exc)
    hop.session.back.clear()
    back = released(hop, order)  # from the order as it was closed: a fill just before is counted
    values = {"ngwee": back, "have_wh": back, "ref": order.reference, "selling": int(order.side is Side.SELL)}
    return Outcome(values=values, keep=False)


FEATURE = Feature(
    name="market_orders",
    actions={"order_view": order_view, "cancel_terms": cancel_terms, "cancel_order": cancel_order},
    sources={"my_orders": my_orders},
)
