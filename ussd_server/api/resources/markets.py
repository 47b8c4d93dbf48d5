"""A cluster's market: its posted price and why, price history, quotes and purchases, the book, tariffs.

Buying from a cluster takes two steps, as on USSD: a quote (the price and the
cost, held for ``MARKET_QUOTE_TTL_S`` seconds), then the purchase that names it,
with the buyer's PIN and an ``Idempotency-Key``. A purchase pays exactly what
its quote said; a quote that expired is refused (``QUOTE_EXPIRED``, 422) so the
client shows a new price, never charges one the buyer did not see.

Prices, history, the book and its trades are public (any key or user); a
tariff is set by an operator (an ``admin`` key). Orders are in ``market_orders``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.kernel.clock import MICROS_PER_SECOND
from engine.kernel.errors import InvalidInput
from engine.markets.errors import InvalidTariff, QuoteExpired
from engine.markets.model import TouPeriod
from ussd_server.api import scopes
from ussd_server.api.models.common import PageMeta
from ussd_server.api.models.energy import CLUSTER_ID_PATTERN, Purchase
from ussd_server.api.models.market_views import (
    Candle,
    CurrentPrice,
    DepthView,
    MarketTrade,
    PriceSummaryView,
    QuoteView,
    TariffView,
)
from ussd_server.api.models.markets import (
    BookQuery,
    BuyQuoted,
    QuoteRequest,
    SeriesQuery,
    SetTariff,
    TradesQuery,
    minute_of,
)
from ussd_server.api.pins import verified
from ussd_server.api.resources.energy import cluster_id_of
from ussd_server.api.resources.wallet import decode_cursor, encode_cursor
from ussd_server.api.routing import Call, Idempotency, Reply, Route

CLUSTER = {"cluster_id": CLUSTER_ID_PATTERN}
MAX_SERIES_DAYS = 31
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TRADES_CURSOR = "t1."
_DAY_S = 24 * 3600


def micros(when: datetime) -> int:
    """An aware time as UTC microseconds, exactly (no float on the way)."""
    return (when - _EPOCH) // timedelta(microseconds=1)


_TARIFF_DATES = (micros(datetime(2000, 1, 1, tzinfo=UTC)), micros(datetime(2100, 1, 1, tzinfo=UTC)))


async def price(call: Call) -> Reply:
    prices = call.platform.prices
    return Reply(CurrentPrice.of(await prices.explain(cluster_id_of(call)), prices.market.slot_s))


async def series(call: Call) -> Reply:
    query, cluster_id = call.query_as(SeriesQuery), cluster_id_of(call)
    prices = call.platform.prices
    slot_s = prices.market.slot_s
    to_us = micros(query.to) if query.to is not None else call.platform.clock.now_us()
    from_us = micros(query.from_) if query.from_ is not None else to_us - _DAY_S * MICROS_PER_SECOND
    if from_us > to_us:
        raise InvalidInput("query from: after `to`", field="from")
    if to_us - from_us > MAX_SERIES_DAYS * _DAY_S * MICROS_PER_SECOND:
        raise InvalidInput(f"query from: at most {MAX_SERIES_DAYS} days before `to`", field="from")
    bucket = {"slot": 1, "hour": 3600 // slot_s, "day": _DAY_S // slot_s}[query.bucket]
    rows = await prices.series(cluster_id, from_us=from_us, to_us=to_us, bucket_slots=max(bucket, 1))
    return Reply([Candle.of(row) for row in rows])


async def summary(call: Call) -> Reply:
    cluster_id = cluster_id_of(call)
    _, summarised = await call.platform.prices.summary(cluster_id)
    return Reply(PriceSummaryView.of(cluster_id, summarised))


async def quote(call: Call) -> Reply:
    body, user, cluster_id = call.body_as(QuoteRequest), call.user(), cluster_id_of(call)
    return Reply(QuoteView.of(await call.platform.prices.quote(user, cluster_id, body.wh)), status=201)


async def buy(call: Call) -> Reply:
    body, user, cluster_id = call.body_as(BuyQuoted), call.user(), cluster_id_of(call)
    proof = await verified(call, user, body.pin)
    try:
        receipt = await call.platform.prices.buy(
            proof, user, body.quote_id, operation_id=call.operation_id, cluster_id=cluster_id
        )
    except QuoteExpired as exc:  # the hint a client needs: where a new price comes from
        raise QuoteExpired(exc.detail, quote_path=f"/clusters/{cluster_id}/quotes") from None
    return Reply(Purchase.of(receipt), status=201)


async def book(call: Call) -> Reply:
    query = call.query_as(BookQuery)
    return Reply(DepthView.of(await call.platform.orders.depth(cluster_id_of(call), levels=query.levels)))


async def trades(call: Call) -> Reply:
    query, cluster_id = call.query_as(TradesQuery), cluster_id_of(call)
    await call.platform.clusters.get(cluster_id)  # an unknown cluster is 404, not an empty list
    before = decode_cursor(query.cursor, _TRADES_CURSOR) if query.cursor is not None else None
    found = await call.platform.orders.trades(cluster_id, limit=query.limit, before_seq=before)
    more = len(found) == query.limit and found[-1].seq > 1
    cursor = encode_cursor(found[-1].seq, _TRADES_CURSOR) if more else None
    return Reply([MarketTrade.of(t) for t in found], meta=PageMeta(next_cursor=cursor, limit=query.limit))


async def tariffs(call: Call) -> Reply:
    cluster_id = cluster_id_of(call)
    prices = call.platform.prices
    listed = await prices.tariffs(cluster_id)
    return Reply([TariffView.of(t) for t in listed] or [TariffView.of(await prices.tariff(cluster_id))])


async def set_tariff(call: Call) -> Reply:
    body, cluster_id = call.body_as(SetTariff), cluster_id_of(call)
    effective_from = micros(body.effective_from) if body.effective_from is not None else None
    if effective_from is not None and not _TARIFF_DATES[0] <= effective_from < _TARIFF_DATES[1]:
        raise InvalidTariff("effective_from: a moment from 2000 to 2099", field="effective_from")
    tariff = await call.platform.prices.set_tariff(
        cluster_id,
        base=body.base_ngwee_per_kwh,
        floor=body.floor_ngwee_per_kwh,
        cap=body.cap_ngwee_per_kwh,
        periods=tuple(TouPeriod(p.name, minute_of(p.start), minute_of(p.end), p.factor_bps) for p in body.periods),
        lifeline_wh=body.lifeline_wh,
        source=body.source,
        source_date=body.source_date.isoformat(),
        effective_from_us=effective_from,
    )
    return Reply(TariffView.of(tariff), status=201)


ROUTES = (
    Route(
        "GET",
        "/clusters/{cluster_id}/price",
        price,
        "The cluster's price now, and each component of it",
        "markets",
        scopes.READERS,
        data=CurrentPrice,
        path_patterns=CLUSTER,
        description="One price per delivery slot (`MARKET_SLOT_MINUTES`), posted once and never changed: the "
        "tariff's base x the time-of-use factor x (utilisation and open orders), moved part of the way from the "
        "previous price, within the tariff's floor and cap. `components` is each step; `tariff` says where its "
        "figures come from. `CLUSTER_NOT_FOUND` (404).",
    ),
    Route(
        "GET",
        "/clusters/{cluster_id}/prices",
        series,
        "Price history: open, high, low, close and volume per slot",
        "markets",
        scopes.READERS,
        data=list[Candle],
        query=SeriesQuery,
        path_patterns=CLUSTER,
        description="Oldest first, between `from` and `to` (RFC 3339; default: the last day), at most "
        f"{MAX_SERIES_DAYS} days. A slot without trades has open = high = low = close = its posted price and "
        "volume 0; a slot nobody priced has no row (none is invented). `INVALID_INPUT` (422) for a range that is "
        "backwards or too long.",
    ),
    Route(
        "GET",
        "/clusters/{cluster_id}/prices/summary",
        summary,
        "Today's range, the day's trend, volatility and the one piece of advice",
        "markets",
        scopes.READERS,
        data=PriceSummaryView,
        path_patterns=CLUSTER,
        description="What the USSD price screen shows. The advice rule: with three days of history or more, a "
        "price 15% or more below the week's median close is a good time to buy; 15% or more above, to sell.",
    ),
    Route(
        "POST",
        "/clusters/{cluster_id}/quotes",
        quote,
        "A price for some energy from the cluster, held for a minute",
        "markets",
        scopes.USER,
        data=QuoteView,
        status=201,
        body=QuoteRequest,
        path_patterns=CLUSTER,
        description="Nothing is charged or held. This month's lifeline allowance (the tariff's `lifeline_wh`) "
        "comes first, at the base price or less; the rest at the posted price. Buy it with `POST .../purchases` "
        "before `expires_at`. `AMOUNT_TOO_SMALL` (422) for too little energy to charge for.",
    ),
    Route(
        "POST",
        "/clusters/{cluster_id}/purchases",
        buy,
        "Buy energy from a cluster at a quoted price",
        "markets",
        scopes.USER,
        data=Purchase,
        status=201,
        body=BuyQuoted,
        idempotency=Idempotency.REQUIRED,
        kind="buy",
        pin=True,
        path_patterns=CLUSTER,
        description="Pays exactly the quote's `cost`: money to the cluster, energy to you, and an SMS receipt, "
        "as on USSD. `QUOTE_EXPIRED` (422): the quote's minute is over; nothing was charged, ask for a new quote "
        "(`details.quote_path`) and show its price. `QUOTE_NOT_FOUND` (404) for a quote of someone else or "
        "another cluster; `QUOTE_USED` (409) for one another purchase paid. Also `INSUFFICIENT_FUNDS`, "
        "`CLUSTER_CAPACITY_SHORT`, `WRONG_PIN`, `PIN_LOCKED`.",
    ),
    Route(
        "GET",
        "/clusters/{cluster_id}/book",
        book,
        "The order book's depth: buy and sell orders by price level",
        "markets",
        scopes.READERS,
        data=DepthView,
        query=BookQuery,
        path_patterns=CLUSTER,
        description="Resting orders still tradeable, summed per price; who placed them stays private.",
    ),
    Route(
        "GET",
        "/clusters/{cluster_id}/trades",
        trades,
        "Trades in the cluster's book, newest first",
        "markets",
        scopes.READERS,
        data=list[MarketTrade],
        query=TradesQuery,
        paged=True,
        path_patterns=CLUSTER,
        description="Page with `cursor` (`meta.next_cursor`). Each fill traded at the resting order's price.",
    ),
    Route(
        "GET",
        "/clusters/{cluster_id}/tariffs",
        tariffs,
        "The cluster's tariffs, each from the moment it takes effect",
        "markets",
        scopes.READERS,
        data=list[TariffView],
        path_patterns=CLUSTER,
        description="Oldest first, with their sources. A cluster with none is priced by the platform default "
        "(its listed price, `effective_from` null), which is listed alone.",
    ),
    Route(
        "POST",
        "/clusters/{cluster_id}/tariffs",
        set_tariff,
        "Set a tariff from a given moment (operators)",
        "markets",
        scopes.ADMINS,
        data=TariffView,
        status=201,
        body=SetTariff,
        idempotency=Idempotency.OPTIONAL,
        kind="tariff",
        path_patterns=CLUSTER,
        description="Effective-dated: slots already priced keep their prices. Time-of-use periods must not "
        "overlap; the floor is at most the base, the base at most the cap. `INVALID_TARIFF` (422) names the "
        "first field refused in `details.field` (also `effective_from` when a tariff starts at that moment "
        "already).",
    ),
)
