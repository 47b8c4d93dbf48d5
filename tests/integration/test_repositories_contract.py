"""The repository contract beside the ledger and the outbox: users, clusters, offers, daily counters.

Run on SQLite, PostgreSQL and the in-memory database, so the fake the service
tests use answers exactly like the real databases: what is stored and read
back, uniqueness, order, and that a unit of work commits whole or not at all.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from engine.energy.model import Cluster, ClusterKind
from engine.identity.model import Language, User
from engine.kernel import errors
from engine.kernel.clock import ManualClock
from engine.ledger.model import Account, AccountKind, Ledger
from engine.notifications.model import OutboxMessage
from engine.trading.model import Offer, OfferStatus
from engine.uow import Database, Repositories
from tests.integration.conftest import ALL_BACKENDS

pytestmark = ALL_BACKENDS

MWILA, CHIPO, BANDA = "+260977000001", "+260966000002", "+260955000003"


async def register(store: Database, phone: str, name: str = "Mwila Banda", language: Language = Language.BEMBA) -> User:
    return await store.atomic(lambda r: r.users.insert_user(phone=phone, name=name, language=language, pin_hash="h1"))


async def insert_cluster(store: Database, cluster: Cluster) -> Cluster:
    return await store.atomic(lambda r: r.clusters.insert_cluster(cluster))


def offer(n: int, seller: User, buyer: User, *, created_at: int, expires_at: int) -> Offer:
    return Offer(f"op{n}", f"REF{n}", seller.id, buyer.id, 1000, 120, 120, 2, OfferStatus.OPEN, created_at, expires_at)


async def test_users_are_numbered_stamped_and_found_by_phone_or_id(store: Database, clock: ManualClock) -> None:
    mwila = await register(store, MWILA)
    chipo = await register(store, CHIPO, "Chipo Phiri", Language.ENGLISH)
    assert chipo.id > mwila.id
    assert (mwila.phone, mwila.name, mwila.language, mwila.created_at) == (
        MWILA,
        "Mwila Banda",
        Language.BEMBA,
        clock.now_us(),
    )
    assert (mwila.pin_failures, mwila.pin_locked_until, mwila.pin_must_change, mwila.hold_until) == (0, 0, False, 0)
    assert await store.users.user_by_phone(MWILA) == mwila
    assert await store.users.user_by_id(chipo.id) == chipo
    assert await store.users.user_by_phone(BANDA) is None
    assert await store.users.user_by_id(chipo.id + 100) is None
    assert [u.id for u in await store.users.list_users(limit=10)] == [mwila.id, chipo.id]
    assert [u.id for u in await store.users.list_users(limit=10, offset=1)] == [chipo.id]
    assert await store.users.count_users() == 2
    assert await store.users.count_users_by_language() == {Language.BEMBA: 1, Language.ENGLISH: 1}


async def test_a_taken_phone_is_refused_and_the_unit_of_work_carries_on(store: Database) -> None:
    await register(store, MWILA)

    async def work(r: Repositories) -> User:
        with pytest.raises(errors.AlreadyRegistered):
            await r.users.insert_user(phone=MWILA, name="Someone Else", language=Language.ENGLISH, pin_hash="h2")
        return await r.users.insert_user(phone=CHIPO, name="Chipo Phiri", language=Language.ENGLISH, pin_hash="h3")

    chipo = await store.atomic(work)
    assert await store.users.count_users() == 2
    assert (await store.users.user_by_id(chipo.id)) == chipo
    assert (await store.users.user_by_phone(MWILA) or chipo).name == "Mwila Banda"


async def test_profile_and_pin_state_are_saved_apart(store: Database) -> None:
    mwila = await register(store, MWILA)
    locked = replace(mwila, pin_failures=3, pin_locked_until=99, pin_failures_total=7, pin_lock_stage=2, hold_until=5)
    await store.atomic(lambda r: r.users.save_pin_state(replace(locked, name="Not Saved", pin_must_change=True)))
    renamed = replace(mwila, name="Mwila M. Banda", language=Language.NYANJA, pin_hash="h9", pin_failures=0)
    await store.atomic(lambda r: r.users.update_user(renamed))
    stored = await store.users.user_by_id(mwila.id)
    assert stored == replace(
        locked, name="Mwila M. Banda", language=Language.NYANJA, pin_hash="h9", pin_must_change=True
    )
    assert await store.atomic(lambda r: r.users.user_for_update(mwila.id)) == stored


async def test_clusters_are_unique_and_listed_by_region_then_name(store: Database) -> None:
    def cluster(id_: str, name: str, region: str) -> Cluster:
        return Cluster(id_, name, ClusterKind.MICRO, region, 50_000, 120, created_at=7)

    made = [cluster("c1", "Kabulonga", "Lusaka"), cluster("c2", "Chelston", "Lusaka"), cluster("c3", "Nkana", "Kitwe")]
    for c in made:
        assert await insert_cluster(store, c) == c
    with pytest.raises(errors.ClusterExists):
        await store.atomic(lambda r: r.clusters.insert_cluster(cluster("c1", "Again", "Ndola")))
    assert await store.clusters.cluster_by_id("c1") == made[0]
    assert await store.clusters.cluster_by_id("c9") is None
    assert [c.id for c in await store.clusters.list_clusters()] == ["c3", "c2", "c1"]
    assert [c.id for c in await store.clusters.list_clusters(region="Lusaka")] == ["c2", "c1"]
    assert await store.clusters.list_clusters(region="Ndola") == []
    assert await store.clusters.cluster_regions() == ["Kitwe", "Lusaka"]


async def test_offers_open_once_close_once_and_expire(store: Database) -> None:
    seller, buyer = await register(store, MWILA), await register(store, CHIPO)
    later, sooner = (
        offer(1, seller, buyer, created_at=20, expires_at=1000),
        offer(2, seller, buyer, created_at=10, expires_at=500),
    )
    assert await store.atomic(lambda r: r.offers.insert_offer(later))
    assert await store.atomic(lambda r: r.offers.insert_offer(sooner))
    assert not await store.atomic(lambda r: r.offers.insert_offer(replace(later, wh=5)))
    assert await store.offers.offer_by_id("op1") == later
    assert await store.offers.open_offers_for(buyer.id, now_us=0) == [sooner, later]
    assert await store.offers.open_offers_for(buyer.id, now_us=0, limit=1) == [sooner]
    assert await store.offers.open_offers_for(buyer.id, now_us=500) == [later]
    assert await store.offers.open_offers_for(seller.id, now_us=0) == []
    assert await store.offers.count_open_offers(seller.id, buyer.id, now_us=0) == 2
    assert await store.atomic(lambda r: r.offers.close_offer("op2", OfferStatus.DECLINED))
    assert not await store.atomic(lambda r: r.offers.close_offer("op2", OfferStatus.ACCEPTED))
    assert (await store.offers.offer_by_id("op2") or later).status is OfferStatus.DECLINED
    assert await store.offers.count_open_offers(seller.id, buyer.id, now_us=0) == 1


async def test_daily_counters_count_up_to_the_limit_and_are_forgotten(store: Database) -> None:
    assert [await store.atomic(lambda r: r.counters.bump_daily("u1", "gift", 100, 2)) for _ in range(3)] == [
        True,
        True,
        False,
    ]
    await store.atomic(lambda r: r.counters.bump_daily("u1", "gift", 101, 2))
    assert await store.counters.daily_count("u1", "gift", 100) == 2
    assert await store.counters.daily_count("u1", "offer", 100) == 0
    assert await store.atomic(lambda r: r.counters.forget_daily_before(101)) == 1
    assert await store.counters.daily_count("u1", "gift", 100) == 0
    assert await store.counters.daily_count("u1", "gift", 101) == 1


async def test_a_unit_of_work_that_raises_leaves_nothing_behind(store: Database) -> None:
    class Refused(Exception):
        pass

    async def work(r: Repositories) -> None:
        user = await r.users.insert_user(phone=MWILA, name="Mwila Banda", language=Language.BEMBA, pin_hash="h")
        await r.ledger.create_accounts([Account("a1", Ledger.ZMW, AccountKind.TEST)])
        await r.outbox.add_outbox([OutboxMessage("k1", MWILA, Language.BEMBA, "sms.welcome", {"n": 1})])
        await r.counters.bump_daily(str(user.id), "gift", 1, 5)
        raise Refused

    with pytest.raises(Refused):
        await store.atomic(work)
    assert await store.users.count_users() == 0
    assert await store.ledger.lookup_accounts(["a1"]) == {}
    assert await store.outbox.list_outbox() == []
    assert await store.counters.daily_count("1", "gift", 1) == 0
    # and the database takes the next unit of work as if nothing happened
    assert (await register(store, MWILA)).phone == MWILA


async def test_reads_outside_a_unit_of_work_see_committed_data_only(store: Database) -> None:
    inside, release = asyncio.Event(), asyncio.Event()

    async def work(r: Repositories) -> None:
        await r.users.insert_user(phone=MWILA, name="Mwila Banda", language=Language.BEMBA, pin_hash="h")
        assert await r.users.count_users() == 1  # the unit of work sees its own write
        inside.set()
        await release.wait()

    running = asyncio.create_task(store.atomic(work))
    await inside.wait()
    assert await store.users.user_by_phone(MWILA) is None
    release.set()
    await running
    assert await store.users.user_by_phone(MWILA) is not None
