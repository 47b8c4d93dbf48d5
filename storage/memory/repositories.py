"""The in-memory users, clusters, offers and daily counters (engine's identity, energy, trading, kernel ports)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from engine.energy.model import Cluster
from engine.identity.model import Language, User
from engine.kernel.clock import Clock
from engine.kernel.errors import AlreadyRegistered, ClusterExists
from engine.trading.model import Offer, OfferStatus
from storage.memory.ledger import ConstraintViolation
from storage.memory.tables import Tables


class MemoryUsers:
    """engine.identity.ports.UserWriter (its reads alone on a database's committed tables)."""

    def __init__(self, tables: Tables, clock: Clock) -> None:
        self._t = tables
        self._clock = clock

    async def user_by_phone(self, phone: str) -> User | None:
        user_id = self._t.user_ids.get(phone)
        return self._t.users.get(user_id) if user_id is not None else None

    async def user_by_id(self, user_id: int) -> User | None:
        return self._t.users.get(user_id)

    async def users_by_ids(self, user_ids: Sequence[int]) -> dict[int, User]:
        found = ((i, self._t.users.get(i)) for i in user_ids)
        return {i: u for i, u in found if u is not None}

    async def list_users(self, *, limit: int, offset: int = 0) -> list[User]:
        return sorted(self._t.users.values(), key=lambda u: u.id)[offset : offset + limit]

    async def count_users(self) -> int:
        return sum(1 for _ in self._t.users.values())

    async def count_users_by_language(self) -> dict[Language, int]:
        return dict(Counter(u.language for u in self._t.users.values()))

    async def insert_user(self, *, phone: str, name: str, language: Language, pin_hash: str) -> User:
        if phone in self._t.user_ids:
            raise AlreadyRegistered("phone already registered", phone=phone)
        user = User(
            self._t.next_id("users"), phone, name, Language(language), pin_hash, created_at=self._clock.now_us()
        )
        self._t.users.put(user.id, user)
        self._t.user_ids.put(phone, user.id)
        return user

    async def update_user(self, user: User) -> None:
        stored = self._t.users.get(user.id)
        if stored is not None:
            if not 1 <= user.kyc_tier <= 3:  # the column's CHECK
                raise ConstraintViolation(f"user {user.id}: KYC tier {user.kyc_tier} is not 1 to 3")
            changed = replace(
                stored,
                name=user.name,
                language=Language(user.language),
                pin_hash=user.pin_hash,
                kyc_tier=user.kyc_tier,
            )
            self._t.users.put(user.id, changed)

    async def user_for_update(self, user_id: int) -> User | None:
        # One transaction writes at a time: reading is locking.
        return self._t.users.get(user_id)

    async def save_pin_state(self, user: User) -> None:
        stored = self._t.users.get(user.id)
        if stored is not None:
            changed = replace(
                stored,
                pin_failures=user.pin_failures,
                pin_locked_until=user.pin_locked_until,
                pin_failures_total=user.pin_failures_total,
                pin_lock_stage=user.pin_lock_stage,
                pin_must_change=bool(user.pin_must_change),
                hold_until=user.hold_until,
            )
            self._t.users.put(user.id, changed)


class MemoryClusters:
    """engine.energy.ports.ClusterWriter (its reads alone on a database's committed tables)."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def cluster_by_id(self, cluster_id: str) -> Cluster | None:
        return self._t.clusters.get(cluster_id)

    async def clusters_by_ids(self, cluster_ids: Sequence[str]) -> dict[str, Cluster]:
        found = ((i, self._t.clusters.get(i)) for i in cluster_ids)
        return {i: c for i, c in found if c is not None}

    async def list_clusters(self, *, region: str | None = None) -> list[Cluster]:
        if region is None:
            return sorted(self._t.clusters.values(), key=lambda c: (c.region, c.name))
        return sorted((c for c in self._t.clusters.values() if c.region == region), key=lambda c: c.name)

    async def cluster_regions(self) -> list[str]:
        return sorted({c.region for c in self._t.clusters.values()})

    async def insert_cluster(self, cluster: Cluster) -> Cluster:
        if cluster.id in self._t.clusters:
            raise ClusterExists("cluster exists", cluster_id=cluster.id)
        self._t.clusters.put(cluster.id, cluster)
        return cluster

    async def set_cluster_price(self, cluster_id: str, price_ngwee_per_kwh: int) -> bool:
        stored = self._t.clusters.get(cluster_id)
        if stored is None:
            return False
        if price_ngwee_per_kwh <= 0:  # the column's CHECK
            raise ConstraintViolation(f"cluster {cluster_id!r}: price {price_ngwee_per_kwh} is not above 0")
        self._t.clusters.put(cluster_id, replace(stored, price_ngwee_per_kwh=price_ngwee_per_kwh))
        return True


class MemoryOffers:
    """engine.trading.ports.OfferWriter (its reads alone on a database's committed tables)."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def offer_by_id(self, offer_id: str) -> Offer | None:
        return self._t.offers.get(offer_id)

    async def open_offers_for(self, buyer_id: int, *, now_us: int, limit: int = 20) -> list[Offer]:
        open_ = [
            o
            for o in self._t.offers.values()
            if o.buyer_id == buyer_id and o.status is OfferStatus.OPEN and o.expires_at > now_us
        ]
        return sorted(open_, key=lambda o: (o.created_at, o.id))[: max(limit, 0)]

    async def count_open_offers(self, seller_id: int, buyer_id: int, *, now_us: int) -> int:
        return sum(
            1
            for o in self._t.offers.values()
            if o.seller_id == seller_id
            and o.buyer_id == buyer_id
            and o.status is OfferStatus.OPEN
            and o.expires_at > now_us
        )

    async def insert_offer(self, offer: Offer) -> bool:
        if offer.id in self._t.offers:
            return False
        self._t.offers.put(offer.id, offer)
        return True

    async def close_offer(self, offer_id: str, status: OfferStatus) -> bool:
        stored = self._t.offers.get(offer_id)
        if stored is None or stored.status is not OfferStatus.OPEN:
            return False
        self._t.offers.put(offer_id, replace(stored, status=OfferStatus(status)))
        return True


class MemoryCounters:
    """engine.kernel.ports.CounterWriter (its reads alone on a database's committed tables)."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def daily_count(self, subject: str, kind: str, day: int) -> int:
        return self._t.counters.get((subject, kind, day)) or 0

    async def bump_daily(self, subject: str, kind: str, day: int, limit: int) -> bool:
        # As the SQL upsert: a first event is always counted, and says whether it fits.
        key = (subject, kind, day)
        count = self._t.counters.get(key)
        if count is None:
            self._t.counters.put(key, 1)
            return limit >= 1
        if count >= limit:
            return False
        self._t.counters.put(key, count + 1)
        return True

    async def forget_daily_before(self, day: int) -> int:
        old = [key for key, _ in self._t.counters.items() if key[2] < day]
        for key in old:
            self._t.counters.delete(key)
        return len(old)
