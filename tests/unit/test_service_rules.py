"""Service rules on the in-memory database: milliseconds per test, no server.

The same in-memory database passes the storage contract suite with SQLite and
PostgreSQL (tests/integration), so what holds here holds there; these tests
are about the services: the unit of work, its events and their receipts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from engine.energy.events import EnergyBought
from engine.identity.model import User
from engine.kernel.clock import ManualClock
from engine.kernel.errors import InsufficientEnergy, InsufficientFunds
from engine.kernel.events import DomainEvent, EventBus
from engine.notifications.model import OutboxRow
from engine.platform import Platform, event_bus
from engine.trading.events import TradeSettled
from engine.uow import UnitOfWork
from storage import open_store
from tests.conftest import TEST_CONFIG, TEST_HASHER

PIN = "5173"
CONFIG = replace(TEST_CONFIG, starting_credit_ngwee=1_000)


async def memory_platform(clock: ManualClock, bus: EventBus[UnitOfWork] | None = None) -> Platform:
    database = await open_store("memory:", clock=clock)
    platform = Platform(database, CONFIG, TEST_HASHER, clock, bus=bus)
    await platform.bootstrap()
    await platform.clusters.create(
        cluster_id="lsk-unit",
        name="Unit Solar",
        kind="micro",
        region="Lusaka",
        capacity_wh=50_000,
        price_ngwee_per_kwh=120,
    )
    return platform


@pytest.fixture
async def platform() -> AsyncIterator[Platform]:
    platform = await memory_platform(ManualClock())
    yield platform
    await platform.close()


async def user(platform: Platform, phone: str, name: str) -> User:
    return await platform.users.register(phone=phone, name=name, language="en", pin=PIN)


async def sms(platform: Platform, phone: str) -> list[OutboxRow]:
    return await platform.store.outbox.list_outbox(recipient=phone)


async def test_a_new_user_gets_their_starting_credit_and_a_welcome_sms(platform: Platform) -> None:
    mwila = await user(platform, "+260971000001", "Mwila Banda")
    assert (await platform.wallet.balances(mwila)).ngwee == 1_000
    [welcome] = await sms(platform, mwila.phone)
    assert welcome.message.template == "sms.welcome"
    assert welcome.message.params["credit"] == 1_000


async def test_a_purchase_and_its_receipt_commit_together(platform: Platform) -> None:
    chipo = await user(platform, "+260971000002", "Chipo Phiri")
    receipt = await platform.clusters.buy(buyer=chipo, cluster_id="lsk-unit", wh=5_000, operation_id="op-buy")
    assert receipt.cost_ngwee == 600
    balances = await platform.wallet.balances(chipo)
    assert (balances.wh, balances.ngwee) == (5_000, 400)
    purchase = [r for r in await sms(platform, chipo.phone) if r.message.template == "sms.cluster_purchase"]
    assert [r.message.params["balance_ngwee"] for r in purchase] == [400], "the receipt shows the balance after"


async def test_a_repeated_purchase_charges_once_and_sends_one_receipt(platform: Platform) -> None:
    chipo = await user(platform, "+260971000003", "Chipo Mwale")
    first = await platform.clusters.buy(buyer=chipo, cluster_id="lsk-unit", wh=1_000, operation_id="op-same")
    again = await platform.clusters.buy(buyer=chipo, cluster_id="lsk-unit", wh=1_000, operation_id="op-same")
    assert (first.replayed, again.replayed) == (False, True)
    assert (await platform.wallet.balances(chipo)).ngwee == 1_000 - 120
    assert sum(r.message.template == "sms.cluster_purchase" for r in await sms(platform, chipo.phone)) == 1


async def test_a_refused_purchase_leaves_no_receipt_and_no_money_moved(platform: Platform) -> None:
    chipo = await user(platform, "+260971000004", "Chipo Zulu")
    with pytest.raises(InsufficientFunds):
        await platform.clusters.buy(buyer=chipo, cluster_id="lsk-unit", wh=20_000)
    assert (await platform.wallet.balances(chipo)).ngwee == 1_000
    assert [r.message.template for r in await sms(platform, chipo.phone)] == ["sms.welcome"]


async def test_a_trade_tells_both_parties_their_new_balances(platform: Platform) -> None:
    seller = await user(platform, "+260971000005", "Mutale Chanda")
    buyer = await user(platform, "+260971000006", "Bwalya Mumba")
    await platform.clusters.buy(buyer=seller, cluster_id="lsk-unit", wh=2_000)
    await platform.trading.trade(seller=seller, buyer_phone=buyer.phone, wh=1_000, price_ngwee_per_kwh=150)
    [sold] = [r for r in await sms(platform, seller.phone) if r.message.template == "sms.energy_sold"]
    [bought] = [r for r in await sms(platform, buyer.phone) if r.message.template == "sms.energy_bought"]
    assert sold.message.params["balance_wh"] == 1_000
    assert bought.message.params["balance_ngwee"] == 1_000 - 150
    with pytest.raises(InsufficientEnergy):
        await platform.trading.trade(seller=buyer, buyer_phone=seller.phone, wh=5_000, price_ngwee_per_kwh=150)


async def test_an_offer_reserves_energy_until_the_buyer_accepts(platform: Platform) -> None:
    seller = await user(platform, "+260971000007", "Natasha Tembo")
    buyer = await user(platform, "+260971000008", "Kunda Lungu")
    await platform.clusters.buy(buyer=seller, cluster_id="lsk-unit", wh=2_000)
    offer = await platform.offers.offer(seller=seller, buyer_phone=buyer.phone, wh=1_500, price_ngwee_per_kwh=100)
    assert (await platform.wallet.balances(seller)).wh == 500, "the offered energy is held for the buyer"
    assert "sms.offer_received" in [r.message.template for r in await sms(platform, buyer.phone)]
    view = await platform.offers.offer_for(buyer, offer.id)
    assert view is not None
    assert view.seller_name == "Natasha T."
    assert await platform.offers.offer_for(seller, offer.id) is None, "nobody sees someone else's offer"
    await platform.offers.accept(buyer=buyer, offer_id=offer.id)
    assert (await platform.wallet.balances(buyer)).wh == 1_500
    templates = [r.message.template for r in await sms(platform, buyer.phone)]
    assert templates.count("sms.energy_bought") == 1


async def test_an_event_handler_that_fails_rolls_the_whole_operation_back() -> None:
    bus = event_bus(CONFIG)

    async def refuse(_event: EnergyBought, _uow: UnitOfWork) -> None:
        raise RuntimeError("the audit log is unavailable")

    bus.subscribe(EnergyBought, refuse)
    platform = await memory_platform(ManualClock(), bus)
    chipo = await user(platform, "+260971000009", "Chipo Banda")
    with pytest.raises(RuntimeError, match="audit log"):
        await platform.clusters.buy(buyer=chipo, cluster_id="lsk-unit", wh=1_000)
    balances = await platform.wallet.balances(chipo)
    assert (balances.wh, balances.ngwee) == (0, 1_000), "no energy and no money moved"
    assert [r.message.template for r in await sms(platform, chipo.phone)] == ["sms.welcome"], "and no receipt"
    await platform.close()


async def test_a_new_subscriber_sees_every_settled_trade_without_touching_the_services() -> None:
    bus = event_bus(CONFIG)
    seen: list[DomainEvent] = []

    async def audit(event: TradeSettled, _uow: UnitOfWork) -> None:
        seen.append(event)

    bus.subscribe(TradeSettled, audit)
    platform = await memory_platform(ManualClock(), bus)
    seller = await user(platform, "+260971000010", "Mwape Sata")
    buyer = await user(platform, "+260971000011", "Lweendo Hara")
    await platform.clusters.buy(buyer=seller, cluster_id="lsk-unit", wh=1_000)
    await platform.trading.trade(seller=seller, buyer_phone=buyer.phone, wh=500, price_ngwee_per_kwh=0)
    [gift] = seen
    assert isinstance(gift, TradeSettled)
    assert (gift.gift, gift.wh, gift.buyer.phone) == (True, 500, buyer.phone)
    await platform.close()


def test_a_handler_subscribed_twice_is_refused() -> None:
    bus = event_bus(CONFIG)

    async def twice(_event: TradeSettled, _uow: UnitOfWork) -> None:
        return None

    bus.subscribe(TradeSettled, twice)
    with pytest.raises(ValueError, match="already handles TradeSettled"):
        bus.subscribe(TradeSettled, twice)
