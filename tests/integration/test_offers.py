"""Selling energy is an offer: the buyer's money moves only when the buyer accepts with their PIN."""

from __future__ import annotations

import pytest

from engine.identity.model import User
from engine.kernel import errors
from engine.kernel.clock import ManualClock
from engine.ledger.verify import verify_ledger
from engine.platform import Platform
from engine.trading.model import OfferStatus

SELLER, BUYER, OTHER = "+260977123456", "+260966123456", "+260955123456"


@pytest.fixture
async def parties(platform: Platform) -> tuple[User, User]:
    seller = await platform.users.register(phone=SELLER, name="Mwila", language="en", pin="5173")
    buyer = await platform.users.register(phone=BUYER, name="Chipo", language="ny", pin="5173")
    await platform.clusters.create(
        cluster_id="lsk-test", name="Test", kind="micro", region="Lusaka", capacity_wh=10_000, price_ngwee_per_kwh=100
    )
    await platform.clusters.buy(buyer=seller, cluster_id="lsk-test", wh=3000, operation_id="stock")
    return seller, buyer


async def test_an_offer_reserves_energy_and_takes_no_money(platform: Platform, parties: tuple[User, User]) -> None:
    seller, buyer = parties
    offer = await platform.offers.offer(seller=seller, buyer_phone=BUYER, wh=1000, price_ngwee_per_kwh=150)
    assert (offer.cost_ngwee, offer.status) == (150, OfferStatus.OPEN)
    assert (await platform.wallet.balances(seller)).wh == 2000  # reserved for the buyer
    assert (await platform.wallet.balances(buyer)).ngwee == 500  # untouched until accepted
    [sms] = [
        r
        for r in await platform.store.outbox.list_outbox(recipient=BUYER)
        if r.message.template == "sms.offer_received"
    ]
    assert sms.message.params["ngwee"] == 150
    assert sms.message.language == "ny"
    assert [v.offer.id for v in await platform.offers.open_offers(buyer)] == [offer.id]


async def test_accepting_moves_energy_and_money_once(platform: Platform, parties: tuple[User, User]) -> None:
    seller, buyer = parties
    offer = await platform.offers.offer(seller=seller, buyer_phone=BUYER, wh=1000, price_ngwee_per_kwh=150)
    receipt = await platform.offers.accept(buyer=buyer, offer_id=offer.id)
    again = await platform.offers.accept(buyer=buyer, offer_id=offer.id)
    assert (receipt.replayed, again.replayed) == (False, True)
    assert (await platform.wallet.balances(buyer)).wh == 1000
    assert (await platform.wallet.balances(buyer)).ngwee == 350
    assert (await platform.wallet.balances(seller)).ngwee == 500 - 300 + 150
    templates = [r.message.template for r in await platform.store.outbox.list_outbox(limit=100)]
    assert templates.count("sms.energy_sold") == 1
    assert templates.count("sms.energy_bought") == 1
    assert await platform.offers.open_offers(buyer) == []
    assert (await verify_ledger(platform.store.ledger)).ok


async def test_declining_gives_the_energy_back_and_tells_the_seller(
    platform: Platform, parties: tuple[User, User]
) -> None:
    seller, buyer = parties
    offer = await platform.offers.offer(seller=seller, buyer_phone=BUYER, wh=1000, price_ngwee_per_kwh=150)
    await platform.offers.decline(buyer=buyer, offer_id=offer.id)
    assert (await platform.wallet.balances(seller)).wh == 3000
    assert any(
        r.message.template == "sms.offer_declined" for r in await platform.store.outbox.list_outbox(recipient=SELLER)
    )
    with pytest.raises(errors.OfferClosed):
        await platform.offers.accept(buyer=buyer, offer_id=offer.id)


async def test_an_unaccepted_offer_expires_and_the_energy_returns(
    platform: Platform, parties: tuple[User, User], clock: ManualClock
) -> None:
    seller, buyer = parties
    offer = await platform.offers.offer(seller=seller, buyer_phone=BUYER, wh=1000, price_ngwee_per_kwh=150)
    clock.advance(platform.config.offer_ttl_s + 1)
    with pytest.raises(errors.OfferExpired):
        await platform.offers.accept(buyer=buyer, offer_id=offer.id)
    assert await platform.offers.open_offers(buyer) == []
    assert await platform.expire_reservations() == 1
    assert (await platform.wallet.balances(seller)).wh == 3000
    assert (await platform.wallet.balances(buyer)).ngwee == 500


async def test_a_buyer_who_cannot_pay_is_refused_and_the_offer_stays_open(
    platform: Platform, parties: tuple[User, User]
) -> None:
    seller, buyer = parties
    offer = await platform.offers.offer(seller=seller, buyer_phone=BUYER, wh=2000, price_ngwee_per_kwh=1000)
    with pytest.raises(errors.InsufficientFunds):
        await platform.offers.accept(buyer=buyer, offer_id=offer.id)
    assert [v.offer.id for v in await platform.offers.open_offers(buyer)] == [offer.id]
    assert (await platform.wallet.balances(buyer)).wh == 0


async def test_only_the_buyer_can_accept_and_refusals_have_codes(
    platform: Platform, parties: tuple[User, User]
) -> None:
    seller, _ = parties
    other = await platform.users.register(phone=OTHER, name="Natasha", language="en", pin="5173")
    offer = await platform.offers.offer(seller=seller, buyer_phone=BUYER, wh=1000, price_ngwee_per_kwh=150)
    with pytest.raises(errors.OfferNotFound):
        await platform.offers.accept(buyer=other, offer_id=offer.id)
    with pytest.raises(errors.InsufficientEnergy):
        await platform.offers.offer(seller=seller, buyer_phone=BUYER, wh=2001, price_ngwee_per_kwh=150)
    with pytest.raises(errors.SelfTrade):
        await platform.offers.offer(seller=seller, buyer_phone=SELLER, wh=100, price_ngwee_per_kwh=150)
    with pytest.raises(errors.InvalidPrice):
        await platform.offers.offer(seller=seller, buyer_phone=BUYER, wh=100, price_ngwee_per_kwh=0)


async def test_repeating_an_offer_operation_reserves_once(platform: Platform, parties: tuple[User, User]) -> None:
    seller, buyer = parties
    first = await platform.offers.offer(
        seller=seller, buyer_phone=BUYER, wh=500, price_ngwee_per_kwh=150, operation_id="o1"
    )
    again = await platform.offers.offer(
        seller=seller, buyer_phone=BUYER, wh=500, price_ngwee_per_kwh=150, operation_id="o1"
    )
    assert first.id == again.id
    assert (await platform.wallet.balances(seller)).wh == 2500
    assert len(await platform.offers.open_offers(buyer)) == 1


async def test_carbon_counts_an_accepted_offer_once(platform: Platform, parties: tuple[User, User]) -> None:
    seller, buyer = parties  # the seller bought 3 kWh from a cluster
    offer = await platform.offers.offer(seller=seller, buyer_phone=BUYER, wh=1000, price_ngwee_per_kwh=150)
    # While the offer is open the energy is only reserved: nobody's carbon moves yet.
    assert (await platform.carbon.for_user(seller)).renewable_wh == 3000
    assert (await platform.carbon.for_user(buyer)).renewable_wh == 0

    await platform.offers.accept(buyer=buyer, offer_id=offer.id)

    buyer_carbon = await platform.carbon.for_user(buyer)
    assert buyer_carbon.renewable_wh == (await platform.wallet.balances(buyer)).wh == 1000
    assert buyer_carbon.co2_grams == 800  # 1 kWh x 0.8 kg, not 2 kWh
    seller_carbon = await platform.carbon.for_user(seller)
    assert seller_carbon.renewable_wh == (await platform.wallet.balances(seller)).wh == 2000
    assert (await platform.carbon.platform()).renewable_wh == 3000  # what left the cluster, counted once


async def test_carbon_does_not_move_when_an_offer_is_declined_or_expires(
    platform: Platform, parties: tuple[User, User], clock: ManualClock
) -> None:
    seller, buyer = parties
    declined = await platform.offers.offer(seller=seller, buyer_phone=BUYER, wh=1000, price_ngwee_per_kwh=150)
    await platform.offers.decline(buyer=buyer, offer_id=declined.id)
    await platform.offers.offer(seller=seller, buyer_phone=BUYER, wh=700, price_ngwee_per_kwh=150)
    clock.advance(platform.config.offer_ttl_s + 1)
    assert await platform.expire_reservations() == 1

    for user, wh in ((seller, 3000), (buyer, 0)):
        carbon = await platform.carbon.for_user(user)
        assert carbon.renewable_wh == (await platform.wallet.balances(user)).wh == wh, user.name
    assert (await platform.carbon.platform()).renewable_wh == 3000
