"""Trades, cluster purchases and carbon savings on both backends."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.energy.model import ClusterKind
from engine.identity.model import User
from engine.kernel import errors
from engine.kernel.clock import ManualClock
from engine.ledger.accounts import FEES
from engine.ledger.verify import verify_ledger
from engine.platform import Platform
from engine.uow import Database as Store
from tests.conftest import TEST_HASHER

SELLER, BUYER = "+260977123456", "+260966123456"


async def make_user(platform: Platform, phone: str, name: str = "Test User", language: str = "en") -> User:
    return await platform.users.register(phone=phone, name=name, language=language, pin="5173")


async def make_cluster(platform: Platform, capacity_wh: int = 10_000, price: int = 120) -> str:
    await platform.clusters.create(
        cluster_id="lsk-test-micro",
        name="Test Micro-Grid",
        kind=ClusterKind.MICRO,
        region="Lusaka",
        capacity_wh=capacity_wh,
        price_ngwee_per_kwh=price,
    )
    return "lsk-test-micro"


async def snapshot(store: Store) -> tuple[object, ...]:
    """Everything a refused operation must leave untouched."""
    accounts = await store.ledger.list_accounts()
    return (await store.ledger.chain_head(), accounts, len(await store.outbox.list_outbox(limit=1000)))


@pytest.fixture
async def traders(platform: Platform) -> tuple[User, User]:
    seller = await make_user(platform, SELLER, "Mwila")
    buyer = await make_user(platform, BUYER, "Chipo", "ny")
    cluster = await make_cluster(platform)
    await platform.clusters.buy(buyer=seller, cluster_id=cluster, wh=3000, operation_id="setup-buy")
    return seller, buyer


async def test_buying_from_a_cluster_moves_money_and_energy_and_reduces_capacity(platform: Platform) -> None:
    user = await make_user(platform, SELLER)
    cluster_id = await make_cluster(platform, capacity_wh=10_000, price=115)
    receipt = await platform.clusters.buy(buyer=user, cluster_id=cluster_id, wh=2500)
    assert receipt.cost_ngwee == 288  # 2.5 kWh x K1.15 = K2.875, rounded half up
    balances = await platform.wallet.balances(user)
    assert (balances.ngwee, balances.wh) == (500 - 288, 2500)
    view = await platform.clusters.get(cluster_id)
    assert view.available_wh == 7500
    treasury = (await platform.store.ledger.lookup_accounts([view.cluster.treasury_account_id]))[
        view.cluster.treasury_account_id
    ]
    assert treasury.balance == 288
    sms = await platform.store.outbox.list_outbox(recipient=SELLER)
    purchase = [row for row in sms if row.message.template == "sms.cluster_purchase"]
    assert len(purchase) == 1
    assert purchase[0].message.params["ref"] == receipt.reference
    assert purchase[0].message.params["balance_wh"] == 2500


async def test_cluster_purchase_beyond_capacity_is_refused_with_nothing_written(platform: Platform) -> None:
    user = await make_user(platform, SELLER)
    cluster_id = await make_cluster(platform, capacity_wh=1000, price=10)
    before = await snapshot(platform.store)
    with pytest.raises(errors.ClusterCapacityShort):
        await platform.clusters.buy(buyer=user, cluster_id=cluster_id, wh=1001)
    assert await snapshot(platform.store) == before


async def test_cluster_purchase_without_enough_money_is_refused(platform: Platform) -> None:
    user = await make_user(platform, SELLER)
    cluster_id = await make_cluster(platform, capacity_wh=100_000, price=120)
    before = await snapshot(platform.store)
    with pytest.raises(errors.InsufficientFunds):
        await platform.clusters.buy(buyer=user, cluster_id=cluster_id, wh=5000)  # K6.00 > K5.00
    assert await snapshot(platform.store) == before


async def test_cluster_errors(platform: Platform) -> None:
    user = await make_user(platform, SELLER)
    with pytest.raises(errors.ClusterNotFound):
        await platform.clusters.buy(buyer=user, cluster_id="nowhere", wh=1000)
    cluster_id = await make_cluster(platform)
    with pytest.raises(errors.AmountNotPositive):
        await platform.clusters.buy(buyer=user, cluster_id=cluster_id, wh=0)
    with pytest.raises(errors.AmountTooSmall):
        await platform.clusters.buy(buyer=user, cluster_id=cluster_id, wh=1)  # K0.0012 rounds to nothing
    with pytest.raises(errors.ClusterExists):
        await make_cluster(platform)
    with pytest.raises(errors.InvalidCluster):
        await platform.clusters.create(
            cluster_id="Bad Id!", name="x", kind="micro", region="Lusaka", capacity_wh=1, price_ngwee_per_kwh=1
        )


async def test_generation_restocks_a_cluster(platform: Platform) -> None:
    cluster_id = await make_cluster(platform, capacity_wh=1000)
    await platform.clusters.record_generation(cluster_id, 4000, operation_id="gen-1")
    await platform.clusters.record_generation(cluster_id, 4000, operation_id="gen-1")  # replay: no double stock
    assert (await platform.clusters.get(cluster_id)).available_wh == 5000


async def test_regions_and_listing(platform: Platform) -> None:
    await make_cluster(platform)
    await platform.clusters.create(
        cluster_id="cb-kitwe-park",
        name="Kitwe Park",
        kind="industrial",
        region="Copperbelt",
        capacity_wh=5000,
        price_ngwee_per_kwh=105,
    )
    assert await platform.clusters.regions() == ["Copperbelt", "Lusaka"]
    views = await platform.clusters.list(region="Copperbelt")
    assert [(v.cluster.id, v.available_wh) for v in views] == [("cb-kitwe-park", 5000)]


async def test_trade_moves_energy_one_way_and_money_the_other(platform: Platform, traders: tuple[User, User]) -> None:
    seller, buyer = traders
    seller_before = await platform.wallet.balances(seller)
    receipt = await platform.trading.trade(seller=seller, buyer_phone=BUYER, wh=1500)  # platform rate K1.20
    assert receipt.quote.cost_ngwee == 180
    seller_after = await platform.wallet.balances(seller)
    buyer_after = await platform.wallet.balances(buyer)
    assert seller_after.wh == seller_before.wh - 1500
    assert seller_after.ngwee == seller_before.ngwee + 180
    assert (buyer_after.wh, buyer_after.ngwee) == (1500, 500 - 180)
    seller_sms = [
        r for r in await platform.store.outbox.list_outbox(recipient=SELLER) if r.message.template == "sms.energy_sold"
    ]
    buyer_sms = [
        r for r in await platform.store.outbox.list_outbox(recipient=BUYER) if r.message.template == "sms.energy_bought"
    ]
    assert len(seller_sms) == len(buyer_sms) == 1
    assert buyer_sms[0].message.language == "ny"
    assert buyer_sms[0].message.params["ref"] == seller_sms[0].message.params["ref"] == receipt.reference
    assert buyer_sms[0].message.params["balance_ngwee"] == 320


async def test_trade_fee_goes_to_the_fees_account_and_is_paid_by_the_buyer(
    platform: Platform, traders: tuple[User, User]
) -> None:
    seller, buyer = traders
    fee_platform = Platform(platform.store, replace(platform.config, trade_fee_bps=250), TEST_HASHER, platform.clock)
    receipt = await fee_platform.trading.trade(seller=seller, buyer_phone=BUYER, wh=2000, price_ngwee_per_kwh=150)
    assert (receipt.quote.cost_ngwee, receipt.quote.fee_ngwee) == (300, 8)  # 2.5% of K3.00 = 7.5, rounded up
    assert (await platform.wallet.balances(buyer)).ngwee == 500 - 308
    fees = (await platform.store.ledger.lookup_accounts([FEES]))[FEES]
    assert fees.balance == 8


async def test_a_trade_under_one_kwacha_still_pays_the_fee(platform: Platform, traders: tuple[User, User]) -> None:
    seller, buyer = traders
    seller_before = await platform.wallet.balances(seller)
    fee_platform = Platform(platform.store, replace(platform.config, trade_fee_bps=100), TEST_HASHER, platform.clock)
    receipt = await fee_platform.trading.trade(seller=seller, buyer_phone=BUYER, wh=500, price_ngwee_per_kwh=100)
    # 1% of K0.50 is half a ngwee: charged as 1 ngwee, not waived.
    assert (receipt.quote.cost_ngwee, receipt.quote.fee_ngwee) == (50, 1)
    assert (await platform.wallet.balances(buyer)).ngwee == 500 - 51
    assert (await platform.wallet.balances(seller)).ngwee == seller_before.ngwee + 50, "the seller gets the price"
    assert (await platform.store.ledger.lookup_accounts([FEES]))[FEES].balance == 1
    assert (await verify_ledger(platform.store.ledger)).ok


async def test_price_zero_sends_energy_as_a_gift(platform: Platform, traders: tuple[User, User]) -> None:
    seller, buyer = traders
    await platform.trading.trade(seller=seller, buyer_phone=BUYER, wh=1000, price_ngwee_per_kwh=0)
    assert (await platform.wallet.balances(buyer)).ngwee == 500
    assert (await platform.wallet.balances(buyer)).wh == 1000
    templates = {r.message.template for r in await platform.store.outbox.list_outbox(limit=100)}
    assert {"sms.energy_sent", "sms.energy_received"} <= templates


@pytest.mark.parametrize(
    ("buyer_phone", "wh", "price", "error"),
    [
        (SELLER, 1000, None, errors.SelfTrade),
        (BUYER, 0, None, errors.AmountNotPositive),
        (BUYER, -5, None, errors.AmountNotPositive),
        (BUYER, 1000, -1, errors.InvalidPrice),
        ("+260955000000", 1000, None, errors.CounterpartyNotFound),
        ("0955000000", 1000, None, errors.InvalidPhoneNumber),
        (BUYER, 3001, None, errors.InsufficientEnergy),
        (BUYER, 3000, 500, errors.BuyerInsufficientFunds),  # K15.00 > the buyer's K5.00
    ],
)
async def test_refused_trades_have_their_own_codes_and_write_nothing(
    platform: Platform,
    traders: tuple[User, User],
    buyer_phone: str,
    wh: int,
    price: int | None,
    error: type[errors.EnerlectraError],
) -> None:
    seller, _ = traders
    before = await snapshot(platform.store)
    with pytest.raises(error) as raised:
        await platform.trading.trade(seller=seller, buyer_phone=buyer_phone, wh=wh, price_ngwee_per_kwh=price)
    assert raised.value.code == error.code
    assert await snapshot(platform.store) == before


async def test_error_codes_are_distinct() -> None:
    codes = [cls.code for cls in _all_error_classes(errors.EnerlectraError)]
    assert len(codes) == len(set(codes))


def _all_error_classes(cls: type[errors.EnerlectraError]) -> list[type[errors.EnerlectraError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found += _all_error_classes(sub)
    return found


async def test_a_repeated_trade_operation_applies_once(platform: Platform, traders: tuple[User, User]) -> None:
    seller, buyer = traders
    first = await platform.trading.trade(seller=seller, buyer_phone=BUYER, wh=1000, operation_id="sess-1:sell:1")
    again = await platform.trading.trade(seller=seller, buyer_phone=BUYER, wh=1000, operation_id="sess-1:sell:1")
    assert (first.replayed, again.replayed) == (False, True)
    assert again.reference == first.reference
    assert (await platform.wallet.balances(buyer)).wh == 1000
    sms = [r for r in await platform.store.outbox.list_outbox(limit=100) if r.message.template.startswith("sms.energy")]
    assert len(sms) == 2  # one per party, not per attempt
    with pytest.raises(errors.IdempotencyConflict):
        await platform.trading.trade(seller=seller, buyer_phone=BUYER, wh=999, operation_id="sess-1:sell:1")


async def test_history_is_newest_first_with_paging_and_shared_references(
    platform: Platform, traders: tuple[User, User]
) -> None:
    seller, _ = traders
    receipt = await platform.trading.trade(seller=seller, buyer_phone=BUYER, wh=500)
    page = await platform.wallet.history(seller, limit=2)
    assert [e.reference for e in page.entries] == [receipt.reference, receipt.reference]
    assert sorted(e.amount for e in page.entries) == [-500, 60]
    assert page.next_before_seq is not None
    older = await platform.wallet.history(seller, limit=10, before_seq=page.next_before_seq)
    assert [e.code for e in older.entries] == [21, 20, 1]  # cluster payment, cluster energy, starting credit
    assert older.next_before_seq is None
    seqs = [e.seq for e in page.entries + older.entries]
    assert seqs == sorted(seqs, reverse=True)


async def test_carbon_counts_energy_once_per_user_and_platform_wide(
    platform: Platform, traders: tuple[User, User]
) -> None:
    seller, buyer = traders  # the seller bought 3 kWh from a cluster
    await platform.trading.trade(seller=seller, buyer_phone=BUYER, wh=1000)
    seller_carbon = await platform.carbon.for_user(seller)
    buyer_carbon = await platform.carbon.for_user(buyer)
    assert (seller_carbon.renewable_wh, buyer_carbon.renewable_wh) == (2000, 1000)
    assert seller_carbon.co2_grams == 1600  # 2 kWh x 0.8 kg
    platform_carbon = await platform.carbon.platform()
    assert platform_carbon.renewable_wh == 3000
    assert platform_carbon.co2_grams == 2400
    assert platform_carbon.car_miles == 6  # 2.4 kg / 0.4 kg per mile
    assert platform_carbon.car_km == 9  # 6 miles = 9.65 km, rounded down


async def test_carbon_report_arithmetic(platform: Platform) -> None:
    report = platform.carbon.report(75_000)  # 75 kWh -> 60 kg -> one tree
    assert (report.co2_grams, report.trees_tenths, report.car_miles, report.car_km) == (60_000, 10, 150, 241)


async def test_the_ledger_verifies_after_a_day_of_business(
    platform: Platform, traders: tuple[User, User], clock: ManualClock
) -> None:
    seller, _ = traders
    for i in range(5):
        clock.advance(60)
        await platform.trading.trade(seller=seller, buyer_phone=BUYER, wh=100 + i, operation_id=f"t{i}")
    report = await verify_ledger(platform.store.ledger)
    assert report.ok, report.problems
    assert report.entries > 10
