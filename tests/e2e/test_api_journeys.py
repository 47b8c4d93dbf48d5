"""What a partner's app and a user's app do through the REST API, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

from engine.access.model import Scope
from tests.e2e.api_client import CHIPO, CLUSTER, MWILA, NATASHA, Api, new_key
from tests.e2e.conftest import World
from tests.support.phones import unique_phone
from ussd_server.demo import DEMO_PIN


async def test_a_partner_registers_a_user_who_signs_in_and_sees_their_wallet(world: World) -> None:
    api = Api(world)
    partner = await api.api_key(Scope.PARTNER)
    phone = unique_phone()
    local = "0" + phone[4:]  # as a person writes it: 0977...

    registered = await api.call(
        "POST", "/users", auth=partner, json={"phone": local, "name": "Bupe Zulu", "language": "en", "pin": "4827"}
    )
    assert registered.status == 201
    assert registered.data["phone"] == phone
    assert registered.data["name"] == "Bupe Zulu"
    await world.sms_containing(phone, "Welcome")

    token = await api.sign_in(phone, "4827")
    me = await api.call("GET", "/me", auth=token)
    assert me.data["phone"] == phone
    assert me.data["pin_must_change"] is False
    wallet = await api.wallet(token)
    assert wallet["money"] == {"ngwee": world.settings.starting_credit_ngwee, "currency": "ZMW"}
    assert wallet["energy_wh"] == 0

    again = await api.call("POST", "/users", auth=partner, json={"phone": phone, "name": "Bupe Zulu", "pin": "4827"})
    assert (again.status, again.code) == (409, "ALREADY_REGISTERED")


async def test_buying_energy_moves_money_and_energy_once_and_sends_a_receipt(world: World) -> None:
    api = Api(world)
    token = await api.sign_in(CHIPO)
    before = await api.wallet(token)

    quote = await api.call("POST", f"/clusters/{CLUSTER}/quotes", auth=token, json={"wh": 2000})
    bought = await api.buy(token, 2000, quote_id=quote.data["id"])

    assert bought.status == 201
    receipt = bought.data
    assert receipt["cluster_id"] == CLUSTER
    assert receipt["energy_wh"] == 2000
    assert (receipt["cost"], receipt["price"]) == (quote.data["cost"], quote.data["price"])  # what she was shown
    after = await api.wallet(token)
    assert after["money"]["ngwee"] == before["money"]["ngwee"] - quote.data["cost"]["ngwee"]
    assert after["energy_wh"] == before["energy_wh"] + 2000
    await world.sms_containing(CHIPO, receipt["reference"][:5])

    statement = await api.call("GET", "/wallet/statement", auth=token)
    assert statement.data[0]["reference"] == receipt["reference"]
    assert statement.data[0]["kind"] == "cluster_purchase"
    assert statement.data[0]["counterparty"] == "Kabulonga Micro-Grid"

    transaction = await api.call("GET", f"/transactions/{receipt['reference']}", auth=token)
    assert {t["code"] for t in transaction.data["transfers"]} == {"cluster_energy", "cluster_payment"}
    carbon = await api.call("GET", "/carbon", auth=token)
    assert carbon.data["renewable_wh"] >= 2000


async def test_a_sale_is_an_offer_the_buyer_accepts_with_their_own_pin(world: World) -> None:
    api = Api(world)
    seller, buyer = await api.sign_in(MWILA), await api.sign_in(NATASHA)
    seller_before, buyer_before = await api.wallet(seller), await api.wallet(buyer)

    looked_up = await api.call("GET", f"/counterparts/{NATASHA}", auth=seller)
    assert looked_up.data == {"phone": NATASHA, "short_name": "Natasha M."}
    made = await api.call(
        "POST",
        "/offers",
        auth=seller,
        key=new_key(),
        json={"to": NATASHA, "wh": 1000, "price_ngwee_per_kwh": 150, "pin": DEMO_PIN},
    )
    assert made.status == 201
    offer = made.data
    assert offer["status"] == "open"
    assert offer["buyer_phone"] == NATASHA
    assert (await api.wallet(seller))["reserved"]["energy_wh"] == 1000

    offers = await api.call("GET", "/offers", auth=buyer)
    assert [o["id"] for o in offers.data] == [offer["id"]]
    assert offers.data[0]["seller_name"] == "Mwila B."
    accepted = await api.call(
        "POST", f"/offers/{offer['id']}/accept", auth=buyer, key=new_key(), json={"pin": DEMO_PIN}
    )

    assert accepted.status == 201
    assert accepted.data["total"] == {"ngwee": 150, "currency": "ZMW"}
    seller_after, buyer_after = await api.wallet(seller), await api.wallet(buyer)
    assert seller_after["energy_wh"] == seller_before["energy_wh"] - 1000
    assert seller_after["money"]["ngwee"] == seller_before["money"]["ngwee"] + 150
    assert buyer_after["energy_wh"] == buyer_before["energy_wh"] + 1000
    assert buyer_after["money"]["ngwee"] == buyer_before["money"]["ngwee"] - 150
    assert (await api.call("GET", "/offers", auth=buyer)).data == []


async def test_a_declined_offer_gives_the_seller_their_energy_back(world: World) -> None:
    api = Api(world)
    seller, buyer = await api.sign_in(MWILA), await api.sign_in(CHIPO)
    before = await api.wallet(seller)
    made = await api.call("POST", "/offers", auth=seller, key=new_key(), json={"to": CHIPO, "wh": 500, "pin": DEMO_PIN})

    declined = await api.call(
        "POST", f"/offers/{made.data['id']}/decline", auth=buyer, key=new_key(), json={"pin": DEMO_PIN}
    )

    assert declined.status == 200
    assert declined.data["status"] == "declined"
    assert await api.wallet(seller) == before
    await world.sms_containing(MWILA, made.data["reference"][:5])
    again = await api.call(
        "POST", f"/offers/{made.data['id']}/accept", auth=buyer, key=new_key(), json={"pin": DEMO_PIN}
    )
    assert (again.status, again.code) == (422, "OFFER_CLOSED")


async def test_a_gift_needs_no_consent_and_both_get_an_sms(world: World) -> None:
    api = Api(world)
    giver = await api.sign_in(MWILA)
    receiver_before = await world.balances(CHIPO)

    gift = await api.call(
        "POST", "/gifts", auth=giver, key=new_key(), json={"to": "0966 234 567", "wh": 300, "pin": DEMO_PIN}
    )

    assert gift.status == 201
    assert gift.data == {"reference": gift.data["reference"], "to": CHIPO, "energy_wh": 300}
    assert (await world.balances(CHIPO)).wh == receiver_before.wh + 300
    await world.sms_containing(CHIPO, gift.data["reference"][:5])


async def test_history_pages_with_an_opaque_cursor_until_the_last_page(world: World) -> None:
    api = Api(world)
    token = await api.sign_in(CHIPO)
    for _ in range(3):
        assert (await api.buy(token, 200)).status == 201

    seen: list[str] = []
    cursor = None
    while True:
        path = "/wallet/history?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = await api.call("GET", path, auth=token)
        assert page.status == 200
        assert len(page.data) <= 2
        seen += [f"{m['reference']}:{m['code']}" for m in page.data]
        cursor = page.body["meta"]["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)), "a movement showed on two pages"
    assert sum(1 for s in seen if s.endswith(":cluster_energy")) >= 3
    bad = await api.call("GET", "/wallet/history?cursor=not-ours", auth=token)
    assert (bad.status, bad.code) == (422, "INVALID_INPUT")


async def test_signing_out_or_changing_the_pin_ends_the_old_tokens(world: World) -> None:
    api = Api(world)
    phone = unique_phone()
    await world.platform.users.register(phone=phone, name="Test Person", language="en", pin="4827")
    first, second = await api.sign_in(phone, "4827"), await api.sign_in(phone, "4827")

    out = await api.call("DELETE", "/session", auth=first)
    assert out.data == {"signed_out": True}
    assert (await api.call("GET", "/wallet", auth=first)).code == "UNAUTHENTICATED"
    assert (await api.call("GET", "/wallet", auth=second)).status == 200

    changed = await api.call("POST", "/me/pin", auth=second, json={"pin": "4827", "new_pin": "3691"})
    assert changed.status == 200
    assert (await api.call("GET", "/wallet", auth=second)).status == 401
    assert (await api.call("GET", "/wallet", auth=changed.data["token"])).status == 200
    await world.sms_containing(phone, "PIN was changed")
    assert (await api.call("POST", "/session", json={"phone": phone, "pin": "4827"})).code == "WRONG_PIN"


async def test_a_user_on_a_one_time_pin_must_choose_a_new_one_first(world: World) -> None:
    api = Api(world)
    phone = unique_phone()
    user = await world.platform.users.register(phone=phone, name="Test Person", language="en", pin="4827")
    await world.platform.users.reset_pin(user)
    sms = await world.sms_containing(phone, "one-time PIN")
    found = re.search(r"one-time PIN is (\d{4})", sms)
    assert found is not None, sms
    one_time = found.group(1)

    token = await api.sign_in(phone, one_time)
    assert (await api.call("GET", "/wallet", auth=token)).code == "PIN_CHANGE_REQUIRED"
    changed = await api.call("POST", "/me/pin", auth=token, json={"pin": one_time, "new_pin": "3691"})
    assert changed.status == 200
    assert (await api.call("GET", "/wallet", auth=changed.data["token"])).status == 200


async def test_keys_read_what_their_scopes_allow(world: World) -> None:
    api = Api(world)
    reader, admin = await api.api_key(Scope.READ), await api.api_key(Scope.ADMIN)

    clusters = await api.call("GET", "/clusters?region=Lusaka", auth=reader)
    assert {c["region"] for c in clusters.data} == {"Lusaka"}
    assert CLUSTER in {c["id"] for c in clusters.data}
    one = await api.call("GET", f"/clusters/{CLUSTER}", auth=reader)
    assert one.data["price"] == {"ngwee_per_kwh": 115, "currency": "ZMW"}
    assert "Lusaka" in (await api.call("GET", "/regions", auth=reader)).data["regions"]
    stats = await api.call("GET", "/platform/stats", auth=reader)
    assert stats.data["users"]["total"] >= 4
    assert stats.data["clusters"] >= 6
    assert (await api.call("GET", "/platform/carbon", auth=reader)).status == 200

    assert (await api.call("GET", "/platform/ussd-funnel", auth=reader)).code == "FORBIDDEN"
    assert (await api.call("GET", "/platform/ussd-funnel", auth=admin)).status == 200
    profile = await api.call("GET", f"/users/{MWILA}", auth=admin)
    assert profile.data["name"] == "Mwila Banda"
    assert (await api.call("GET", "/wallet", auth=admin)).code == "FORBIDDEN"  # a key is nobody's wallet
