"""A user's market orders: place (buy or sell kWh at a limit), list, cancel; their trades and savings.

Placing moves money or energy into reserve: it needs the PIN and an
``Idempotency-Key``, which becomes the order's id, so a retry returns the same
order and places it once. An order matches at once against the cluster's book
(price, then time: each fill at the resting order's price) and rests with what
is left until its slot's gate closes; cancelling releases what it still holds.
"""

from __future__ import annotations

import re

from engine.markets.errors import OrderNotFound
from ussd_server.api import scopes
from ussd_server.api.models.market_views import MyTrade, OrderView, PlacedOrder, SavingsView
from ussd_server.api.models.markets import ORDER_ID_PATTERN, CancelOrder, MyOrdersQuery, MyTradesQuery, PlaceOrder
from ussd_server.api.pins import verified
from ussd_server.api.resources.markets import micros
from ussd_server.api.routing import Call, Idempotency, Reply, Route

ORDER = {"order_id": ORDER_ID_PATTERN}
_ORDER_ID = re.compile(ORDER_ID_PATTERN)


def order_id_of(call: Call) -> str:
    order_id = call.path("order_id")
    if not _ORDER_ID.match(order_id):  # no such order can exist: no need to ask the database
        raise OrderNotFound("no such order of yours")
    return order_id


async def place(call: Call) -> Reply:
    body, user = call.body_as(PlaceOrder), call.user()
    proof = await verified(call, user, body.pin)
    placement = await call.platform.orders.place(
        proof,
        user,
        body.cluster_id,
        body.side,
        body.wh,
        body.price_ngwee_per_kwh,
        slot_start_us=micros(body.slot) if body.slot is not None else None,
        good_for_day=body.good_for_day,
        operation_id=call.operation_id,
    )
    return Reply(PlacedOrder.of(placement), status=201)


async def my_orders(call: Call) -> Reply:
    query = call.query_as(MyOrdersQuery)
    found = await call.platform.orders.my_orders(
        call.user(), active=query.state == "active", limit=query.limit, offset=query.offset
    )
    return Reply([OrderView.of(o) for o in found])


async def my_order(call: Call) -> Reply:
    return Reply(OrderView.of(await call.platform.orders.order_for(call.user(), order_id_of(call))))


async def cancel(call: Call) -> Reply:
    body, user, order_id = call.body_as(CancelOrder), call.user(), order_id_of(call)
    proof = await verified(call, user, body.pin)
    return Reply(OrderView.of(await call.platform.orders.cancel(proof, user, order_id)))


async def my_trades(call: Call) -> Reply:
    query, user = call.query_as(MyTradesQuery), call.user()
    return Reply([MyTrade.mine(t, user) for t in await call.platform.orders.my_trades(user, limit=query.limit)])


async def my_savings(call: Call) -> Reply:
    return Reply(SavingsView.of(await call.platform.prices.savings(call.user())))


ROUTES = (
    Route(
        "POST",
        "/me/orders",
        place,
        "Place a limit order to buy or sell energy in a cluster's book",
        "markets",
        scopes.USER,
        data=PlacedOrder,
        status=201,
        body=PlaceOrder,
        idempotency=Idempotency.REQUIRED,
        kind="order",
        pin=True,
        description="A buy order reserves its money (at the limit, fee included), a sell order its energy. It "
        "fills at once against orders that cross it, each fill at the resting order's price, and rests with the "
        "rest until its slot's gate closes (`trade_until`); what is left then is released. An order that would "
        "fill against one of your own stops there (`self_trade`). The id is the order's for every retry with the "
        "same Idempotency-Key. Refusals: `PRICE_OUT_OF_BAND` (`details.floor`, `cap`), `ORDER_TOO_SMALL` "
        "(`details.min_wh`), `INVALID_SLOT`, `TOO_MANY_OPEN_ORDERS` (`details.max`), `INSUFFICIENT_FUNDS`, "
        "`INSUFFICIENT_ENERGY`, `WRONG_PIN`; `CLUSTER_NOT_FOUND` (404).",
    ),
    Route(
        "GET",
        "/me/orders",
        my_orders,
        "Your market orders, newest first",
        "markets",
        scopes.USER,
        data=list[OrderView],
        query=MyOrdersQuery,
        description="Open and partly filled ones (`state=active`), or all. Page with `limit` and `offset`.",
    ),
    Route(
        "GET",
        "/me/orders/{order_id}",
        my_order,
        "One of your market orders",
        "markets",
        scopes.USER,
        data=OrderView,
        path_patterns=ORDER,
        description="`ORDER_NOT_FOUND` (404) for an order that is not yours.",
    ),
    Route(
        "POST",
        "/me/orders/{order_id}/cancel",
        cancel,
        "Cancel an order: what it still holds comes back",
        "markets",
        scopes.USER,
        data=OrderView,
        body=CancelOrder,
        idempotency=Idempotency.OPTIONAL,
        kind="order-cancel",
        pin=True,
        path_patterns=ORDER,
        description="What filled stays filled. Cancelling a cancelled order again returns it; `ORDER_CLOSED` "
        "(422, `details.state`) for one that filled or expired.",
    ),
    Route(
        "GET",
        "/me/trades",
        my_trades,
        "Your fills in every cluster's book, newest first",
        "markets",
        scopes.USER,
        data=list[MyTrade],
        query=MyTradesQuery,
    ),
    Route(
        "GET",
        "/me/savings",
        my_savings,
        "This month's energy against what ZESCO would have charged",
        "markets",
        scopes.USER,
        data=SavingsView,
        description="Cluster purchases and market buys of the local month, against ZESCO's residential bands "
        "(energy charges only; VAT and excise apart, so a saving is never overstated by them). `saved` is "
        "negative when the market cost more: shown, never hidden.",
    ),
)
