"""Market (menus/features/market.yaml): a cluster, its prices on one screen, buying and selling kWh.

A cluster is picked first: the member of exactly one co-op finds its cluster
as option 1 above the regions. Its menu offers the prices (today's price,
the trend, today's range, the advice and this month's saving against ZESCO),
a buy or a sell (kWh, a price with today's as option 1, how long it waits:
the next open delivery slot or all day, then a summary with the PIN), and
the member's orders (market_orders.py). What is reserved is said before the
PIN, and what happened after it: filled, partly filled and waiting, or
waiting. Refusals come back as one line on the screen where they can be put
right.
"""

from __future__ import annotations

from typing import Any

from engine.kernel.clock import MICROS_PER_SECOND
from engine.kernel.errors import AmountTooLarge, EnerlectraError, InvalidAmount, OutflowHeld, TooManyDecimals
from engine.kernel.local_time import local_text
from engine.kernel.units import parse_energy, parse_price
from engine.markets.grid import Savings
from engine.markets.history import BUY, DOWN, FLAT, SELL, TOO_LITTLE_DATA, UP
from engine.markets.matching import buy_reservation
from engine.markets.model import Order, OrderState, Side, money_of
from ussd_server.menu.context import Hop
from ussd_server.menu.features.buy import posted, regions
from ussd_server.menu.features.coop_text import Reason, cut, fitted
from ussd_server.menu.features.gates import failure, need_user, verified
from ussd_server.menu.registry import Feature, Invalid, Item, Outcome, Value
from ussd_server.menu.schema import Validator

PLACE = "market_place"  # session value: what was picked first, "c:<cluster id>" or "r:<region>"
CLUSTER = "cluster"  # the cluster whose market is open (the Buy journey's session value too)
REGION = "region"
SIDE = "market_side"  # "buy" or "sell", set by the market menu's option
WH = "market_wh"
PRICE = "market_price"
DAY = "market_day"  # "1": the order waits all day; "": for the next open slot only
TODAY = "market_today"  # the price shown as option 1 on the price screen: what "1" means on the next hop
MENU_OPTIONS = ("market.opt_prices", "market.opt_buy", "market.opt_sell", "market.opt_orders")
NO_ENERGY = "no_energy"  # shown value: a sell was chosen with no energy to sell (said above the menu)
TREND_NO = {UP: 1, DOWN: 2, FLAT: 3}  # market.trend's trend_no; 0 no price a day ago
ADVICE_NO = {BUY: 1, SELL: 2}  # market.advice's advice_no; 3 the usual price, 4 too little data


def selling(hop: Hop) -> bool:
    return hop.session.values.get(SIDE) == Side.SELL.value


def side_of(hop: Hop) -> Side:
    return Side.SELL if selling(hop) else Side.BUY


def cluster_id(hop: Hop) -> str:
    return str(hop.session.values.get(CLUSTER, ""))


def until_text(hop: Hop, order: Order) -> str:
    """When an order stops being matched, as the local time of day."""
    return local_text(order.trade_until_us, hop.platform.config.local_utc_offset_s, "%H:%M")


# --- which cluster -------------------------------------------------------------------------------


async def _own_cluster(hop: Hop) -> tuple[str, str] | None:
    """(id, name) of the cluster of the member's only co-op, if they are in exactly one and it has a cluster."""
    found = await hop.platform.coops.memberships(await need_user(hop))
    if len(found) != 1:
        return None
    coop = found[0][0]
    try:
        view = await hop.platform.clusters.get(coop.id)  # a co-op is built on the cluster with its id
    except EnerlectraError:
        return None
    return view.cluster.id, view.cluster.name


async def market_places(hop: Hop) -> list[Item]:
    """The member's own co-op's cluster first (a member of one), then the regions in the Buy menu's order."""
    items = [Item(f"r:{r.value}", {"name": r.params["region"]}) for r in await regions(hop)]
    own = await _own_cluster(hop)
    if own is not None:
        items.insert(0, Item(f"c:{own[0]}", {"name": cut(own[1], 40)}))
    return items


async def places_title(hop: Hop) -> Outcome:
    return Outcome(values={"has_coop": int(await _own_cluster(hop) is not None)}, keep=False)


async def market_place(hop: Hop) -> Outcome:
    """Open the picked co-op's cluster at once, or list the picked region's clusters."""
    values = hop.session.values
    kind, _, name = str(values.get(PLACE, "")).partition(":")
    if kind == "c":
        values[CLUSTER] = name
        return Outcome()
    values[REGION] = name
    return Outcome(route="region")


async def market_clusters(hop: Hop) -> list[Item]:
    views = await hop.platform.clusters.list(region=str(hop.session.values.get(REGION, "")))
    items = []
    for view in views:
        price = (await posted(hop, view.cluster.id)).price
        items.append(Item(view.cluster.id, {"name": cut(view.cluster.name, 32), "price": price}))
    return items


async def market_title(hop: Hop) -> Outcome:
    """The cluster and its price now, the name shortened only if the screen (and a refusal above it) needs it."""
    current = await posted(hop, cluster_id(hop))
    values = {"cluster_name": current.cluster.name, "price": current.price}
    reason: Reason = ("err.invalid_choice", {})
    if "max" in hop.shown:  # the open orders' cap stopped a buy or sell: said above this menu
        reason = ("err.too_many_open_orders", {"max": hop.shown["max"]})
    elif hop.shown.get(NO_ENERGY):
        reason = ("sell.no_energy", {})
    shown = fitted(hop, "market.menu", values, shrink="cluster_name", options=MENU_OPTIONS, reasons=(reason,))
    return Outcome(values=shown, keep=False)


# --- prices ------------------------------------------------------------------------------------------


def _savings_no(saved: Savings) -> int:
    """0 nothing bought this month, 1 paid less than ZESCO would have charged, 2 more, 3 the same."""
    if saved.wh <= 0:
        return 0
    return 1 if saved.saved_ngwee > 0 else 2 if saved.saved_ngwee < 0 else 3


async def market_prices(hop: Hop) -> Outcome:
    """Today's price, its trend, today's range, the advice and this month's saving: one screen."""
    current, summary = await hop.platform.prices.summary(cluster_id(hop))
    trend = summary.trend
    advice = summary.advice
    advice_no = ADVICE_NO.get(advice.kind, 4 if advice.reason == TOO_LITTLE_DATA else 3)
    saved = await hop.platform.prices.savings(await need_user(hop))
    savings_no = _savings_no(saved)
    trend_no = 0 if trend.previous is None else TREND_NO.get(trend.direction, 3)
    pct = (abs(trend.change_bps) + 5) // 10  # tenths of a percent, rounded half up
    values = {
        "price": current.price,
        "trend": hop.text("market.trend", trend_no=trend_no, pct=pct),
        "low": summary.low,
        "high": summary.high,
        "advice": hop.text("market.advice", advice_no=advice_no),
        "savings": hop.text("market.savings", savings_no=savings_no, ngwee=abs(saved.saved_ngwee)),
    }
    return Outcome(values=values, keep=False)


# --- buying and selling ------------------------------------------------------------------------------


async def market_full(hop: Hop) -> bool:
    """The member has as many open orders as allowed: said on the market menu before anything is typed."""
    most = hop.platform.prices.market.max_open_orders_per_user
    if await hop.platform.orders.count_active(await need_user(hop)) < most:
        return False
    hop.shown["max"] = most
    return True


async def nothing_to_sell(hop: Hop) -> bool:
    empty = selling(hop) and (await hop.platform.wallet.balances(await need_user(hop))).wh <= 0
    hop.shown[NO_ENERGY] = int(empty)
    return empty


async def kwh_terms(hop: Hop) -> Outcome:
    current = await posted(hop, cluster_id(hop))
    balance = await hop.platform.wallet.balances(await need_user(hop))
    values = {"cluster_name": current.cluster.name, "ngwee": balance.ngwee, "have_wh": balance.wh}
    key = "market.sell_kwh" if selling(hop) else "market.buy_kwh"
    reasons: tuple[Reason, ...] = (
        ("err.insufficient_funds", {"ngwee": balance.ngwee}),
        ("err.insufficient_energy", {"have_wh": balance.wh}),
        ("err.kwh_decimals", {}),
    )
    return Outcome(
        values={**fitted(hop, key, values, shrink="cluster_name", reasons=reasons), "selling": int(selling(hop))},
        keep=False,
    )


async def market_kwh(raw: str, spec: Validator, hop: Hop) -> Value:
    """kWh for an order: at least the market's smallest order."""
    try:
        wh = parse_energy(raw)
    except TooManyDecimals:
        raise Invalid("err.kwh_decimals") from None
    except (AmountTooLarge, InvalidAmount):
        raise Invalid("err.kwh") from None
    least = hop.platform.prices.market.min_order_wh
    if wh < least:
        raise Invalid("err.order_too_small", min_wh=least)
    return wh


async def price_terms(hop: Hop) -> Outcome:
    """Today's price as option 1; kept in the session, so "1" means the price this screen showed."""
    today = (await posted(hop, cluster_id(hop))).price
    hop.session.values[TODAY] = today
    return Outcome(values={"today": today, "selling": int(selling(hop))}, keep=False)


async def market_price(raw: str, spec: Validator, hop: Hop) -> Value:
    """A limit price: 1 for today's, or typed; within the cluster's floor and cap."""
    if raw.strip() == "1":
        price = int(hop.session.values.get(TODAY, 0))
    else:
        try:
            price = parse_price(raw)
        except InvalidAmount:
            raise Invalid("err.price") from None
    tariff = await hop.platform.prices.tariff(cluster_id(hop))
    if not tariff.floor <= price <= tariff.cap:
        raise Invalid("err.price_out_of_band", floor=tariff.floor, cap=tariff.cap)
    return price


async def when_terms(hop: Hop) -> Outcome:
    """How long an order would wait: until the next open slot's gate closes, or until midnight."""
    now = hop.platform.clock.now_us()
    gate = hop.platform.prices.market.gate_closure_s * MICROS_PER_SECOND
    until = hop.platform.orders.next_open_slot(now) - gate
    return Outcome(values={"until": local_text(until, hop.platform.config.local_utc_offset_s, "%H:%M")}, keep=False)


async def market_quote(hop: Hop) -> Outcome:
    """Before the PIN: room for one more order, and the money or energy it reserves."""
    values = hop.session.values
    user = await need_user(hop)
    market = hop.platform.prices.market
    if await hop.platform.orders.count_active(user) >= market.max_open_orders_per_user:
        return Outcome(route="too_many_open_orders", values={"max": market.max_open_orders_per_user}, keep=False)
    wh, price = int(values.get(WH, 0)), int(values.get(PRICE, 0))
    balance = await hop.platform.wallet.balances(user)
    if selling(hop) and balance.wh < wh:
        return Outcome(route="insufficient_energy", values={"have_wh": balance.wh}, keep=False)
    if not selling(hop) and balance.ngwee < buy_reservation(wh, price, market.fee_bps):
        return Outcome(route="insufficient_funds", values={"ngwee": balance.ngwee}, keep=False)
    values["attempt"] = int(values.get("attempt", 0)) + 1  # a new confirmation: a new operation id
    return Outcome()


async def market_confirm(hop: Hop) -> Outcome:
    values = hop.session.values
    wh, price = int(values.get(WH, 0)), int(values.get(PRICE, 0))
    reserve = buy_reservation(wh, price, hop.platform.prices.market.fee_bps)
    shown = {"wh": wh, "price": price, "reserve": reserve, "fee": reserve - money_of(wh * price)}
    return Outcome(values={**shown, "selling": int(selling(hop))}, keep=False)


def _outcome_no(order: Order) -> int:
    """1 filled, 2 partly filled and waiting, 3 waiting, 4 partly filled then stopped by self-trade prevention."""
    if order.state is OrderState.FILLED:
        return 1
    if order.reason == "self_trade":
        return 4
    return 2 if order.filled_wh else 3


async def place_order(hop: Hop) -> Outcome:
    """Place the order (the PIN typed this hop) for the next open slot; say what it did."""
    checked = await verified(hop)
    if isinstance(checked, Outcome):
        return checked
    user, values = checked.user, hop.session.values
    side = side_of(hop)
    try:
        placement = await hop.platform.orders.place(
            checked.proof,
            user,
            cluster_id(hop),
            side,
            int(values.get(WH, 0)),
            int(values.get(PRICE, 0)),
            good_for_day=bool(values.get(DAY)),
            operation_id=hop.operation_id(f"market-{side.value}"),
        )
    except OutflowHeld as exc:
        return Outcome(route=exc.code, keep=False)
    except EnerlectraError as exc:
        balance = await hop.platform.wallet.balances(user)
        return failure(exc, ngwee=balance.ngwee, have_wh=balance.wh)
    order = placement.order
    if order.reason == "self_trade" and not order.filled_wh:
        return Outcome(route="self_trade", keep=False)  # nothing moved: a new price may do
    hop.sms_queued = bool(order.filled_wh) or bool(placement.trades)
    hop.session.back.clear()
    money = order.money_ngwee + (order.fees_ngwee if side is Side.BUY else 0)
    shown: dict[str, Any] = {
        "outcome_no": _outcome_no(order),
        "filled": order.filled_wh,
        "left": order.remaining_wh,
        "money": money,
        "price": order.price,
        "until": until_text(hop, order),
        "ref": order.reference,
        "selling": int(side is Side.SELL),
    }
    return Outcome(values=shown, keep=False)


FEATURE = Feature(
    name="market",
    actions={
        "places_title": places_title,
        "market_place": market_place,
        "market_title": market_title,
        "market_prices": market_prices,
        "kwh_terms": kwh_terms,
        "price_terms": price_terms,
        "when_terms": when_terms,
        "market_quote": market_quote,
        "market_confirm": market_confirm,
        "place_order": place_order,
    },
    conditions={"market_full": market_full, "nothing_to_sell": nothing_to_sell},
    sources={"market_places": market_places, "market_clusters": market_clusters},
    validators={"market_kwh": market_kwh, "market_price": market_price},
)
