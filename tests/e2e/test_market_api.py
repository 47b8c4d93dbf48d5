"""A cluster's market through the REST API: prices and why, quotes, the order book, orders, savings, tariffs.

Two people who never met trade kWh through a cluster's book: each only places
an order. Money and energy are held from the moment an order is placed and come
back when it is cancelled; a retry with the same Idempotency-Key places nothing
twice; a purchase pays exactly the price its quote showed, and a quote that
expired is refused so a new price can be shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.access.model import Scope
from engine.identity.model import User
from tests.e2e.api_client import CLUSTER, Answer, Api, new_key
from tests.e2e.conftest import World
from tests.e2e.scheduling import scheduler_ahead
from ussd_server.demo import DEMO_PIN

OTHER_CLUSTER = "kbw-campus-solar"


@dataclass
class Person:
    user: User
    token: str


async def person(world: World, api: Api, name: str) -> Person:
    """A new user with the starting credit (K5.00) and no energy, signed in."""
    user = await world.new_user(name=name)
    return Person(user, await api.sign_in(user.phone))


async def posted(api: Api, token: str) -> dict[str, Any]:
    answer = await api.call("GET", f"/clusters/{CLUSTER}/price", auth=token)
    assert answer.status == 200, answer.body
    return dict(answer.data)


async def buy_from_cluster(api: Api, who: Person, wh: int) -> dict[str, Any]:
    bought = await api.buy(who.token, wh)
    assert bought.status == 201, bought.body
    return dict(bought.data)


async def order(
    api: Api, who: Person, side: str, wh: int, price: int, *, key: str | None = None, pin: str = DEMO_PIN, **more: Any
) -> Answer:
    body = {"cluster_id": CLUSTER, "side": side, "wh": wh, "price_ngwee_per_kwh": price, "pin": pin, **more}
    return await api.call("POST", "/me/orders", auth=who.token, json=body, key=key or new_key())


async def cancel(api: Api, who: Person, order_id: str, pin: str = DEMO_PIN) -> Answer:
    return await api.call("POST", f"/me/orders/{order_id}/cancel", auth=who.token, json={"pin": pin})


async def money(api: Api, who: Person) -> int:
    return int((await api.wallet(who.token))["money"]["ngwee"])


async def energy(api: Api, who: Person) -> int:
    return int((await api.wallet(who.token))["energy_wh"])


# --- prices -------------------------------------------------------------------------------------------


async def test_the_price_comes_with_every_component_and_the_tariffs_source(world: World) -> None:
    api = Api(world)
    reader = await api.api_key(Scope.READ)

    now = await posted(api, reader)

    parts = now["components"]
    assert parts["floor"]["ngwee_per_kwh"] <= now["price"]["ngwee_per_kwh"] <= parts["cap"]["ngwee_per_kwh"]
    assert parts["base"] == now["tariff"]["base"] == {"ngwee_per_kwh": 115, "currency": "ZMW"}  # its listed K1.15
    assert {"period", "period_factor_bps", "utilisation_bps", "imbalance_bps", "target", "previous"} <= set(parts)
    assert now["tariff"]["source"]
    assert now["slot_start"] < now["slot_end"]
    series = await api.call("GET", f"/clusters/{CLUSTER}/prices", auth=reader)
    assert series.data[-1]["start"][:16] == now["slot_start"][:16]  # the slot just priced is its latest row
    assert series.data[-1]["close"] == now["price"]
    summary = await api.call("GET", f"/clusters/{CLUSTER}/prices/summary", auth=reader)
    assert summary.data["price"] == now["price"]
    assert (summary.data["advice"]["kind"], summary.data["advice"]["reason"]) == ("none", "too_little_data")


async def test_a_price_range_backwards_or_too_long_is_refused(world: World) -> None:
    api = Api(world)
    reader = await api.api_key(Scope.READ)
    path = f"/clusters/{CLUSTER}/prices"

    backwards = await api.call("GET", f"{path}?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", auth=reader)
    too_long = await api.call("GET", f"{path}?from=2025-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", auth=reader)
    no_zone = await api.call("GET", f"{path}?from=2026-01-01T00:00:00", auth=reader)

    assert (backwards.status, backwards.code, backwards.details["field"]) == (422, "INVALID_INPUT", "from")
    assert (too_long.status, too_long.code) == (422, "INVALID_INPUT")
    assert (no_zone.status, no_zone.details["field"]) == (400, "from")


async def test_an_operator_sets_a_tariff_with_its_source_and_nobody_else_can(world: World) -> None:
    api = Api(world)
    admin, reader = await api.api_key(Scope.ADMIN), await api.api_key(Scope.READ)
    path = f"/clusters/{CLUSTER}/tariffs"
    body = {
        "base_ngwee_per_kwh": 130,
        "floor_ngwee_per_kwh": 100,
        "cap_ngwee_per_kwh": 190,
        "lifeline_wh": 3000,
        "periods": [{"name": "peak", "start": "18:00", "end": "22:00", "factor_bps": 12_500}],
        "source": "Board resolution 7 of the Kabulonga users' committee",
        "source_date": "2026-01-05",
        "effective_from": "2030-01-01T00:00:00+02:00",
    }

    refused = await api.call("POST", path, auth=reader, json=body)
    set_ = await api.call("POST", path, auth=admin, json=body)
    wrong = await api.call("POST", path, auth=admin, json={**body, "floor_ngwee_per_kwh": 140})

    assert (refused.status, refused.code) == (403, "FORBIDDEN")
    assert set_.status == 201, set_.body
    listed = (await api.call("GET", path, auth=reader)).data
    assert listed[-1] == set_.data
    assert listed[-1]["source_date"] == "2026-01-05"
    assert listed[-1]["effective_from"].startswith("2029-12-31T22:00:00")
    assert listed[-1]["periods"] == [{"name": "peak", "start": "18:00", "end": "22:00", "factor_bps": 12_500}]
    assert (wrong.status, wrong.code, wrong.details["field"]) == (422, "INVALID_TARIFF", "base")


# --- quotes and purchases -----------------------------------------------------------------------------------


async def test_a_purchase_pays_its_quote_and_an_expired_quote_is_refused_until_a_new_one(world: World) -> None:
    api = Api(world)
    buyer = await person(world, api, "Bwalya Mumba")
    # A platform on the server's database whose clock reads 90 s earlier: its quote is past its minute now.
    async with scheduler_ahead(world, -(world.settings.market_quote_ttl_s + 30)) as earlier:
        stale = await earlier.prices.quote(buyer.user, CLUSTER, 500)
    before = await api.wallet(buyer.token)

    expired = await api.buy(buyer.token, 500, quote_id=stale.id)

    assert (expired.status, expired.code) == (422, "QUOTE_EXPIRED")
    assert expired.details["quote_path"] == f"/clusters/{CLUSTER}/quotes"
    assert await api.wallet(buyer.token) == before  # nothing was charged
    fresh = await api.call("POST", f"/clusters/{CLUSTER}/quotes", auth=buyer.token, json={"wh": 500})
    assert fresh.status == 201
    bought = await api.buy(buyer.token, 500, quote_id=fresh.data["id"])
    assert bought.status == 201, bought.body
    assert (bought.data["cost"], bought.data["price"]) == (fresh.data["cost"], fresh.data["price"])
    assert await money(api, buyer) == before["money"]["ngwee"] - fresh.data["cost"]["ngwee"]
    assert await energy(api, buyer) == before["energy_wh"] + 500
    again = await api.buy(buyer.token, 500, quote_id=fresh.data["id"])  # another key: another purchase
    assert (again.status, again.code) == (409, "QUOTE_USED")


async def test_a_quote_is_its_owners_and_its_clusters_only(world: World) -> None:
    api = Api(world)
    owner, other = await person(world, api, "Mapalo Tembo"), await person(world, api, "Chanda Lungu")
    quote_id = await api.quote(owner.token, 400)

    theirs = await api.buy(other.token, 400, quote_id=quote_id)
    elsewhere = await api.call(
        "POST",
        f"/clusters/{OTHER_CLUSTER}/purchases",
        auth=owner.token,
        json={"quote_id": quote_id, "pin": DEMO_PIN},
        key=new_key(),
    )

    assert (theirs.status, theirs.code) == (404, "QUOTE_NOT_FOUND")
    assert (elsewhere.status, elsewhere.code) == (404, "QUOTE_NOT_FOUND")
    assert (await api.buy(owner.token, 400, quote_id=quote_id)).status == 201


async def test_savings_count_this_months_energy_against_the_grid(world: World) -> None:
    api = Api(world)
    buyer = await person(world, api, "Musonda Phiri")
    receipt = await buy_from_cluster(api, buyer, 1000)

    savings = (await api.call("GET", "/me/savings", auth=buyer.token)).data

    assert (savings["energy_wh"], savings["paid"]) == (1000, receipt["cost"])
    assert savings["saved"]["ngwee"] == savings["grid"]["ngwee"] - receipt["cost"]["ngwee"]
    assert savings["grid_tariff"]["source"]


# --- the order book -----------------------------------------------------------------------------------


async def test_two_strangers_trade_through_the_book_at_the_resting_orders_price(world: World) -> None:
    api = Api(world)
    seller, buyer = await person(world, api, "Mutinta Hamoonga"), await person(world, api, "Kabwe Sakala")
    await buy_from_cluster(api, seller, 2000)
    now = await posted(api, seller.token)
    price, cap = now["price"]["ngwee_per_kwh"], now["components"]["cap"]["ngwee_per_kwh"]
    seller_money, buyer_money = await money(api, seller), await money(api, buyer)
    buyer_energy = await energy(api, buyer)

    ask = await order(api, seller, "sell", 1000, price, good_for_day=True)
    book = (await api.call("GET", f"/clusters/{CLUSTER}/book", auth=buyer.token)).data
    bid = await order(api, buyer, "buy", 1000, cap, good_for_day=True)  # willing to pay up to the cap

    assert ask.status == bid.status == 201, (ask.body, bid.body)
    assert ask.data["order"]["state"] == "open"
    assert ask.data["fills"] == []
    assert {"price": {"ngwee_per_kwh": price, "currency": "ZMW"}, "energy_wh": 1000, "orders": 1} in book["asks"]
    fill = bid.data["fills"]
    assert [(f["price"]["ngwee_per_kwh"], f["energy_wh"], f["taker"]) for f in fill] == [(price, 1000, "buy")]
    assert bid.data["order"]["state"] == "filled"
    cost = (1000 * price + 999) // 1000
    assert await energy(api, buyer) == buyer_energy + 1000
    assert await money(api, buyer) == buyer_money - cost  # at the seller's price: what was held above it is back
    assert await money(api, seller) == seller_money + cost
    sold = (await api.call("GET", f"/me/orders/{ask.data['order']['id']}", auth=seller.token)).data
    assert (sold["state"], sold["filled_wh"], sold["amount"]["ngwee"]) == ("filled", 1000, cost)
    public = (await api.call("GET", f"/clusters/{CLUSTER}/trades?limit=5", auth=buyer.token)).data
    assert public[0]["seq"] == fill[0]["seq"]
    assert "buyer" not in str(public[0])
    mine = (await api.call("GET", "/me/trades", auth=seller.token)).data
    assert (mine[0]["side"], mine[0]["amount"]["ngwee"], mine[0]["order_id"]) == ("sell", cost, sold["id"])
    after = (await api.call("GET", f"/clusters/{CLUSTER}/book", auth=buyer.token)).data
    assert after["asks"] == after["bids"] == []


async def test_the_same_idempotency_key_twice_places_one_order(world: World) -> None:
    api = Api(world)
    seller = await person(world, api, "Namukolo Siame")
    await buy_from_cluster(api, seller, 1000)
    cap = (await posted(api, seller.token))["components"]["cap"]["ngwee_per_kwh"]
    before, key = await energy(api, seller), new_key()

    first = await order(api, seller, "sell", 600, cap, key=key)
    retry = await order(api, seller, "sell", 600, cap, key=key)

    assert first.status == retry.status == 201
    assert retry.body == first.body
    assert retry.headers.get("Idempotent-Replayed") == "true"
    active = (await api.call("GET", "/me/orders", auth=seller.token)).data
    assert [o["id"] for o in active] == [first.data["order"]["id"]]
    assert await energy(api, seller) == before - 600  # held once


async def test_cancelling_an_order_gives_back_what_it_held(world: World) -> None:
    api = Api(world)
    buyer = await person(world, api, "Lweendo Mwale")
    floor = (await posted(api, buyer.token))["components"]["floor"]["ngwee_per_kwh"]
    before = await money(api, buyer)
    placed = await order(api, buyer, "buy", 1000, floor)
    order_id = placed.data["order"]["id"]
    held = before - await money(api, buyer)

    wrong = await cancel(api, buyer, order_id, pin="9999")
    cancelled = await cancel(api, buyer, order_id)
    again = await cancel(api, buyer, order_id)

    assert held == (1000 * floor + 999) // 1000  # the limit's worth, no fee by default
    assert (wrong.status, wrong.code) == (422, "WRONG_PIN")
    assert (cancelled.status, cancelled.data["state"], cancelled.data["reason"]) == (200, "cancelled", "user")
    assert again.data == cancelled.data
    assert await money(api, buyer) == before
    assert (await api.call("GET", "/me/orders", auth=buyer.token)).data == []
    everything = (await api.call("GET", "/me/orders?state=all", auth=buyer.token)).data
    assert [o["id"] for o in everything] == [order_id]


async def test_the_markets_refusals_have_stable_codes(world: World) -> None:
    api = Api(world)
    trader, stranger = await person(world, api, "Chilufya Zulu"), await person(world, api, "Inonge Kalaba")
    now = await posted(api, trader.token)
    floor, cap = now["components"]["floor"]["ngwee_per_kwh"], now["components"]["cap"]["ngwee_per_kwh"]

    out_of_band = await order(api, trader, "buy", 1000, cap + 1)
    too_small = await order(api, trader, "buy", 50, floor)
    past_slot = await order(api, trader, "buy", 1000, floor, slot="2020-01-01T10:00:00Z")
    broke = await order(api, trader, "buy", 100_000, cap)
    no_energy = await order(api, trader, "sell", 1000, floor)
    no_cluster = await api.call(
        "POST",
        "/me/orders",
        auth=trader.token,
        key=new_key(),
        json={"cluster_id": "no-such-cluster", "side": "buy", "wh": 1000, "price_ngwee_per_kwh": 100, "pin": DEMO_PIN},
    )
    no_key = await api.call(
        "POST",
        "/me/orders",
        auth=trader.token,
        json={"cluster_id": CLUSTER, "side": "buy", "wh": 1000, "price_ngwee_per_kwh": floor, "pin": DEMO_PIN},
    )
    placed = await order(api, trader, "buy", 100, floor)
    not_yours = await api.call("GET", f"/me/orders/{placed.data['order']['id']}", auth=stranger.token)

    assert (out_of_band.status, out_of_band.code) == (422, "PRICE_OUT_OF_BAND")
    assert (out_of_band.details["floor"], out_of_band.details["cap"]) == (floor, cap)
    assert (too_small.status, too_small.code, too_small.details["min_wh"]) == (422, "ORDER_TOO_SMALL", 100)
    assert (past_slot.status, past_slot.code) == (422, "INVALID_SLOT")
    assert (broke.status, broke.code) == (422, "INSUFFICIENT_FUNDS")
    assert (no_energy.status, no_energy.code) == (422, "INSUFFICIENT_ENERGY")
    assert (no_cluster.status, no_cluster.code) == (404, "CLUSTER_NOT_FOUND")
    assert (no_key.status, no_key.code) == (400, "IDEMPOTENCY_KEY_MISSING")
    assert (not_yours.status, not_yours.code) == (404, "ORDER_NOT_FOUND")
    assert [o["id"] for o in (await api.call("GET", "/me/orders", auth=trader.token)).data] == [
        placed.data["order"]["id"]
    ]


async def test_open_orders_are_capped_per_user(world: World) -> None:
    api = Api(world)
    trader = await person(world, api, "Mubanga Chola")
    floor = (await posted(api, trader.token))["components"]["floor"]["ngwee_per_kwh"]
    most = world.settings.market_max_open_orders
    for _ in range(most):
        assert (await order(api, trader, "buy", 100, floor)).status == 201

    one_more = await order(api, trader, "buy", 100, floor)

    assert (one_more.status, one_more.code, one_more.details["max"]) == (422, "TOO_MANY_OPEN_ORDERS", most)
    first = (await api.call("GET", "/me/orders?limit=50", auth=trader.token)).data[-1]
    assert (await cancel(api, trader, first["id"])).status == 200
    assert (await order(api, trader, "buy", 100, floor)).status == 201  # room again
