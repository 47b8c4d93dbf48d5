"""Session stores: one contract for the in-process store and Redis, plus Redis faults.

The contract tests run against both stores. Time is moved, not slept: the
memory store gets a fake monotonic clock, and on Redis the harness "ages" this
test's keys by lowering their PTTL (one test does wait for Redis's own expiry).
Redis tests use a random key prefix and delete their keys afterwards.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol, TypedDict, Unpack

import msgpack
import pytest
from redis.asyncio import Redis
from redis.crc import key_slot

from tests.support.markers import needs_redis_server
from tests.support.redis import redis_url, throwaway_redis
from ussd_server.sessions import codec, keys
from ussd_server.sessions.memory import SWEEP_INTERVAL_S, MemorySessionStore
from ussd_server.sessions.model import Session, TextDigest
from ussd_server.sessions.redis_store import RedisSessionStore
from ussd_server.sessions.store import HopCount, SessionLockTimeout, SessionStore, SessionStoreUnavailable

PHONE = "+260977123456"
TEST_LOCK_WAIT_S = 0.5
# A correctness bound for "answer busy within a second", kept generous for slow CI machines.
UNAVAILABLE_BOUND_S = 2.0

DIGEST = TextDigest(b"session-store-test-pepper")


def at_session_id() -> str:
    return "ATUid_" + secrets.token_hex(16)


def mid_journey_session(session_id: str | None = None, user_id: int | None = 42) -> Session:
    """A typical session halfway through buying energy."""
    return Session(
        id=at_session_id() if session_id is None else session_id,
        phone=PHONE,
        service_code="*384*2025#",
        state="buy.confirm",
        values={"cluster": "lsk-kabulonga-micro", "region": "Lusaka", "wh": 2500, "cost": 288},
        language="en",
        page=0,
        back=["main", "buy.cluster", "buy.amount"],
        last_digest=DIGEST("2*1*2500"),
        last_reply=(
            "CON Buy 2.5 kWh from Kabulonga Micro (Lusaka) for K2.88? Balance after: K17.12. "
            "Delivery: today, 18:00-22:00.\n1 Confirm\n2 Change amount\n0 Back\n00 Main"
        ),
        invalid=0,
        hops=4,
        user_id=user_id,
        started_ms=1_767_225_600_000,
        ended=False,
    )


def rich_session(user_id: int | None) -> Session:
    """Every field set to a non-default value, names in Bemba and Nyanja with non-ASCII characters."""
    return Session(
        id=at_session_id(),
        phone="+260761234567",
        service_code="*384*2025#",
        state="coop.vote",
        values={"name": "Mwaba Chíleshe ŋ", "coop": "Ubumi bwa Nsansa ☀", "votes": 7, "neg": -3},
        language="bem",
        page=2,
        back=["main", "coop.list", "coop.detail"],
        last_digest=DIGEST("3*1*2"),
        last_reply="END Natotela! Ivoti yenu yapokelelwa ✓",
        invalid=1,
        hops=9,
        user_id=user_id,
        started_ms=1_767_225_601_234,
        ended=True,
    )


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Harness:
    """A store under test plus backdoors to move time and write raw bytes."""

    store: SessionStore

    async def age(self, seconds: float) -> None:
        raise NotImplementedError

    async def write_raw(self, session_id: str, data: bytes) -> None:
        raise NotImplementedError

    async def session_ttl_s(self, session_id: str) -> float | None:
        raise NotImplementedError


class MemoryHarness(Harness):
    def __init__(self) -> None:
        self.clock = FakeMonotonic()
        self.memory = MemorySessionStore(monotonic=self.clock, lock_wait_s=TEST_LOCK_WAIT_S)
        self.store = self.memory

    async def age(self, seconds: float) -> None:
        self.clock.advance(seconds)

    async def write_raw(self, session_id: str, data: bytes) -> None:
        self.memory.sessions.put(keys.tag(session_id), data, keys.DEFAULT_SESSION_TTL_S)

    async def session_ttl_s(self, session_id: str) -> float | None:
        return self.memory.sessions.remaining_s(keys.tag(session_id))


class RedisHarness(Harness):
    def __init__(self, store: RedisSessionStore) -> None:
        self.redis = store
        self.store = store
        self.raw: Redis = store.client

    async def age(self, seconds: float) -> None:
        # Moves this test's keys closer to expiry, as if `seconds` had passed.
        async for key in self.raw.scan_iter(match=f"{self.redis.prefix}*"):
            remaining_ms = await self.raw.pttl(key)
            if remaining_ms < 0:
                continue
            left_ms = remaining_ms - int(seconds * 1000)
            if left_ms <= 0:
                await self.raw.delete(key)
            else:
                await self.raw.pexpire(key, left_ms)

    async def write_raw(self, session_id: str, data: bytes) -> None:
        await self.raw.set(keys.session_key(session_id, self.redis.prefix), data, ex=keys.DEFAULT_SESSION_TTL_S)

    async def session_ttl_s(self, session_id: str) -> float | None:
        remaining_ms = await self.raw.pttl(keys.session_key(session_id, self.redis.prefix))
        return remaining_ms / 1000 if remaining_ms > 0 else None


async def delete_prefixed(raw: Redis, prefix: str) -> None:
    async for key in raw.scan_iter(match=f"{prefix}*"):
        await raw.delete(key)


def unique_prefix() -> str:
    return f"test-{secrets.token_hex(4)}:enerlectra:"


class RedisStoreOptions(TypedDict, total=False):
    """What a test may set on ``RedisSessionStore.open`` (the rest keep its defaults)."""

    prefix: str
    pool_size: int
    timeout_s: float
    queue_timeout_s: float
    lock_wait_s: float


class RedisStoreOpener(Protocol):
    def __call__(self, **options: Unpack[RedisStoreOptions]) -> Awaitable[RedisSessionStore]: ...


@pytest.fixture
async def open_redis_store() -> AsyncIterator[RedisStoreOpener]:
    """Factory for Redis stores on the shared Redis, each in its own key namespace, all cleaned up."""
    opened: list[RedisSessionStore] = []

    async def opener(**options: Unpack[RedisStoreOptions]) -> RedisSessionStore:
        options.setdefault("prefix", unique_prefix())
        options.setdefault("lock_wait_s", TEST_LOCK_WAIT_S)
        store = await RedisSessionStore.open(redis_url(), **options)
        opened.append(store)
        return store

    yield opener
    for store in opened:
        await delete_prefixed(store.client, store.prefix)
        await store.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def harness(request: pytest.FixtureRequest, open_redis_store: RedisStoreOpener) -> AsyncIterator[Harness]:
    if request.param == "memory":
        memory = MemoryHarness()
        yield memory
        await memory.store.close()
    else:
        yield RedisHarness(await open_redis_store())


# --- the contract, on both stores -------------------------------------------------------------


@pytest.mark.parametrize("user_id", [None, 0, 123_456_789_012])
async def test_a_saved_session_loads_back_unchanged(harness: Harness, user_id: int | None) -> None:
    session = rich_session(user_id)
    await harness.store.save(session, keys.DEFAULT_SESSION_TTL_S)
    assert await harness.store.load(session.id) == session


async def test_an_unknown_session_is_missing(harness: Harness) -> None:
    assert await harness.store.load(at_session_id()) is None


async def test_a_loaded_session_is_a_private_copy(harness: Harness) -> None:
    session = mid_journey_session()
    await harness.store.save(session, keys.DEFAULT_SESSION_TTL_S)
    loaded = await harness.store.load(session.id)
    assert loaded is not None
    loaded.values["wh"] = 1
    loaded.back.append("oops")
    assert await harness.store.load(session.id) == session


async def test_a_session_expires_after_its_ttl(harness: Harness) -> None:
    session = mid_journey_session()
    await harness.store.save(session, 10)
    await harness.age(9.5)
    assert await harness.store.load(session.id) == session
    await harness.age(1)
    assert await harness.store.load(session.id) is None


async def test_every_save_restarts_the_ttl(harness: Harness) -> None:
    session = mid_journey_session()
    await harness.store.save(session, keys.DEFAULT_SESSION_TTL_S)
    await harness.age(170)
    remaining = await harness.session_ttl_s(session.id)
    assert remaining is not None
    assert remaining <= 10.5
    session.hops += 1
    await harness.store.save(session, keys.DEFAULT_SESSION_TTL_S)
    remaining = await harness.session_ttl_s(session.id)
    assert remaining is not None
    assert remaining > 170
    await harness.age(170)  # 340 s after the first save, 170 s after the second
    assert await harness.store.load(session.id) == session


async def test_delete_removes_only_that_session(harness: Harness) -> None:
    first, second = mid_journey_session(), mid_journey_session()
    second.values["wh"] = 9000
    await harness.store.save(first, keys.DEFAULT_SESSION_TTL_S)
    await harness.store.save(second, keys.DEFAULT_SESSION_TTL_S)
    await harness.store.delete(first.id)
    await harness.store.delete(at_session_id())  # deleting what is not there is fine
    assert await harness.store.load(first.id) is None
    assert await harness.store.load(second.id) == second


async def test_sessions_do_not_see_each_other(harness: Harness) -> None:
    sessions = [mid_journey_session() for _ in range(5)]
    for n, session in enumerate(sessions):
        session.values["wh"] = n
        session.state = f"screen.{n}"
        await harness.store.save(session, keys.DEFAULT_SESSION_TTL_S)
    for session in sessions:
        assert await harness.store.load(session.id) == session


@pytest.mark.parametrize(
    "session_id",
    ["a{b}c", "{", "}", "", " ", "x" * 201, "ATUid_ü", "a\nb", "{ATUid_1}:s", "#" + "0" * 32],
    ids=["braces", "open", "close", "empty", "space", "too-long", "unicode", "newline", "tag-lookalike", "hash-mark"],
)
async def test_hostile_session_ids_are_stored_safely(harness: Harness, session_id: str) -> None:
    session = mid_journey_session(session_id)
    neighbour = mid_journey_session(session_id + "x")
    await harness.store.save(session, keys.DEFAULT_SESSION_TTL_S)
    await harness.store.save(neighbour, keys.DEFAULT_SESSION_TTL_S)
    assert await harness.store.load(session_id) == session
    assert await harness.store.load(session_id + "x") == neighbour


GARBAGE = {
    "not-msgpack": b"\xc1\xc1\xc1",
    "text": b"hello, not a session",
    "truncated": codec.encode(mid_journey_session())[:40],
    "trailing-bytes": codec.encode(mid_journey_session()) + b"\x00",
    "a-list": msgpack.packb([1, 2, 3]),
    "missing-fields": msgpack.packb({"s": "buy.confirm"}),
    "wrong-types": msgpack.packb({"i": 5, "p": PHONE}),
    "values-not-a-map": msgpack.packb({"i": "a", "p": PHONE, "v": [1, 2]}),
    "bad-user-id": msgpack.packb({"i": "a", "p": PHONE, "u": "admin"}),
    "bad-page": msgpack.packb({"i": "a", "p": PHONE, "g": "two"}),
    "binary-state": msgpack.packb({"i": "a", "p": PHONE, "s": b"\x00"}, use_bin_type=True),
    "empty": b"",
}


@pytest.mark.parametrize("data", GARBAGE.values(), ids=GARBAGE.keys())
async def test_undecodable_bytes_read_as_a_missing_session(harness: Harness, data: bytes) -> None:
    session_id = at_session_id()
    await harness.write_raw(session_id, data)
    assert await harness.store.load(session_id) is None
    await harness.store.save(mid_journey_session(session_id), keys.DEFAULT_SESSION_TTL_S)  # the hop starts over
    assert await harness.store.load(session_id) is not None


async def test_a_retried_hop_waits_and_replays_the_stored_reply(harness: Harness) -> None:
    """Two identical hops arrive together: the action runs once and both get the same reply."""
    store = harness.store
    session = mid_journey_session()
    await store.save(session, keys.DEFAULT_SESSION_TTL_S)
    digest = DIGEST("2*1*2500*1")
    actions: list[str] = []
    events: list[str] = []

    async def hop(name: str) -> str:
        async with store.hold(session.id) as held:
            events.append(f"enter {name}")
            current = held.session
            assert current is not None
            if current.last_digest == digest:
                reply = current.last_reply
            else:
                actions.append(name)
                await asyncio.sleep(0.02)  # the action takes a moment; the twin must wait
                current.last_digest, current.last_reply = digest, f"END Paid, ref {name}"
                held.keep(current, keys.DEFAULT_SESSION_TTL_S)
                reply = current.last_reply
            events.append(f"exit {name}")
            return reply

    replies = await asyncio.gather(hop("a"), hop("b"))
    assert len(actions) == 1
    assert replies[0] == replies[1] == f"END Paid, ref {actions[0]}"
    first, second = events[0].split()[1], events[2].split()[1]
    assert events == [f"enter {first}", f"exit {first}", f"enter {second}", f"exit {second}"]


async def test_a_hold_loads_the_stored_session_and_saves_what_the_hop_keeps(harness: Harness) -> None:
    store = harness.store
    session = mid_journey_session()
    async with store.hold(session.id) as held:
        assert held.session is None  # a new dial
        held.keep(session, keys.DEFAULT_SESSION_TTL_S)
        assert await store.load(session.id) is None  # written as the lock is released, not before
    assert await store.load(session.id) == session
    session.state, session.hops = "buy.done", 5
    async with store.hold(session.id) as held:
        assert held.session is not None
        assert held.session.state == "buy.confirm"
        held.keep(session, keys.DEFAULT_SESSION_TTL_S)
    assert await store.load(session.id) == session
    ttl = await harness.session_ttl_s(session.id)
    assert ttl is not None
    assert keys.DEFAULT_SESSION_TTL_S - 5 < ttl <= keys.DEFAULT_SESSION_TTL_S


async def test_a_hold_that_keeps_nothing_leaves_the_session_as_it_was(harness: Harness) -> None:
    session = mid_journey_session()
    await harness.store.save(session, keys.DEFAULT_SESSION_TTL_S)
    async with harness.store.hold(session.id) as held:
        assert held.session == session
    assert await harness.store.load(session.id) == session


async def test_a_lock_is_released_and_nothing_saved_when_the_hop_fails(harness: Harness) -> None:
    session = mid_journey_session()

    async def failing_hop() -> None:
        async with harness.store.hold(session.id) as held:
            held.keep(session, keys.DEFAULT_SESSION_TTL_S)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await failing_hop()
    async with asyncio.timeout(0.4), harness.store.hold(session.id) as held:
        assert held.session is None
    assert await harness.store.load(session.id) is None


async def test_locks_of_different_sessions_are_independent(harness: Harness) -> None:
    async with harness.store.hold(at_session_id()), asyncio.timeout(0.4), harness.store.hold(at_session_id()):
        pass


async def test_a_lock_held_too_long_makes_the_next_hop_busy(harness: Harness) -> None:
    session_id = at_session_id()
    async with harness.store.hold(session_id):
        started = time.monotonic()
        with pytest.raises(SessionLockTimeout):
            async with harness.store.hold(session_id):
                pass
        assert TEST_LOCK_WAIT_S * 0.9 <= time.monotonic() - started < TEST_LOCK_WAIT_S + 1
    async with asyncio.timeout(0.4), harness.store.hold(session_id):
        pass  # the timed-out waiter left nothing behind


async def test_each_dial_returns_the_phones_previous_dial_within_the_window(harness: Harness) -> None:
    store = harness.store
    other_phone = "+260961234567"
    first, second, third = at_session_id(), at_session_id(), at_session_id()
    assert await store.swap_resume(PHONE, first, keys.DEFAULT_RESUME_TTL_S) is None
    assert await store.swap_resume(other_phone, third, keys.DEFAULT_RESUME_TTL_S) is None  # per phone
    await harness.age(keys.DEFAULT_RESUME_TTL_S - 1)
    assert await store.swap_resume(PHONE, second, keys.DEFAULT_RESUME_TTL_S) == first
    assert await store.load(first) is None  # a pointer is not a session
    await harness.age(keys.DEFAULT_RESUME_TTL_S + 1)
    assert await store.swap_resume(PHONE, third, keys.DEFAULT_RESUME_TTL_S) is None  # too old to resume


@pytest.mark.parametrize("session_id", ["sid with spaces", "ü-ñ-☀", "x" * 200])
async def test_unusual_session_ids_come_back_from_the_resume_pointer_unchanged(
    harness: Harness, session_id: str
) -> None:
    await harness.store.swap_resume(PHONE, session_id, keys.DEFAULT_RESUME_TTL_S)
    assert await harness.store.swap_resume(PHONE, at_session_id(), keys.DEFAULT_RESUME_TTL_S) == session_id


@pytest.mark.parametrize("ttl_s", [0, -1])
async def test_a_non_positive_ttl_is_a_programming_error(harness: Harness, ttl_s: int) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        await harness.store.save(mid_journey_session(), ttl_s)
    with pytest.raises(ValueError, match="ttl_s"):
        await harness.store.swap_resume(PHONE, at_session_id(), ttl_s)
    with pytest.raises(ValueError, match="ttl_s"):
        async with harness.store.hold(at_session_id()) as held:
            held.keep(mid_journey_session(), ttl_s)


async def test_a_healthy_store_answers_ping(harness: Harness) -> None:
    assert await harness.store.ping() is True


# --- keys and size --------------------------------------------------------------------------


def test_keys_follow_the_documented_layout() -> None:
    sid = "ATUid_" + "ab" * 16
    assert keys.session_key(sid) == f"enerlectra:ussd:{{{sid}}}:s"
    assert keys.lock_key(sid) == f"enerlectra:ussd:{{{sid}}}:lock"
    assert keys.resume_key(PHONE) == "enerlectra:resume:{+260977123456}"
    assert key_slot(keys.session_key(sid).encode()) == key_slot(keys.lock_key(sid).encode())


@pytest.mark.parametrize("value", ["a{b}c", "}{", "x" * 201, "ATUid_ü", "", "#abc"])
def test_unusual_ids_become_a_short_brace_free_tag(value: str) -> None:
    key = keys.session_key(value)
    assert key.count("{") == 1
    assert key.count("}") == 1
    assert keys.tag(value).startswith(keys.HASHED_TAG_MARK)
    assert len(keys.tag(value)) == 33
    assert key_slot(key.encode()) == key_slot(keys.lock_key(value).encode())


def test_usual_ids_are_kept_verbatim_up_to_the_cap() -> None:
    assert keys.tag("x" * keys.MAX_TAG_CHARS) == "x" * keys.MAX_TAG_CHARS
    assert keys.tag("x" * (keys.MAX_TAG_CHARS + 1)) != "x" * (keys.MAX_TAG_CHARS + 1)


def test_a_prefix_with_braces_is_refused() -> None:
    with pytest.raises(ValueError, match="braces"):
        keys.check_prefix("bad{prefix}:")


def test_a_mid_journey_session_stays_under_512_bytes() -> None:
    session = mid_journey_session()
    assert len(session.last_reply) == 150
    size = len(codec.encode(session))
    print(f"mid-journey session: {size} bytes of msgpack")
    assert size <= 512


# --- memory store specifics -----------------------------------------------------------------


async def test_memory_store_drops_expired_entries_without_being_read() -> None:
    clock = FakeMonotonic()
    store = MemorySessionStore(monotonic=clock)
    for _ in range(50):
        await store.save(mid_journey_session(), 5)
    await store.swap_resume(PHONE, at_session_id(), 5)
    clock.advance(SWEEP_INTERVAL_S + 1)
    await store.save(mid_journey_session(), keys.DEFAULT_SESSION_TTL_S)
    await store.swap_resume("+260971111111", at_session_id(), 5)
    assert len(store.sessions) == 1
    assert len(store.resumes) == 1


async def test_memory_store_is_bounded_and_evicts_the_least_recently_saved() -> None:
    store = MemorySessionStore(monotonic=FakeMonotonic(), max_entries=10)
    sessions = [mid_journey_session() for _ in range(25)]
    for session in sessions:
        await store.save(session, keys.DEFAULT_SESSION_TTL_S)
    await store.save(sessions[0], keys.DEFAULT_SESSION_TTL_S)  # saved again: now the freshest
    assert 9 <= len(store.sessions) <= 10
    assert await store.load(sessions[0].id) == sessions[0]
    assert await store.load(sessions[-1].id) == sessions[-1]
    assert await store.load(sessions[1].id) is None


async def test_memory_store_keeps_no_unused_locks() -> None:
    store = MemorySessionStore(lock_wait_s=0.05)
    session_id = at_session_id()
    async with store.hold(session_id):
        assert store.lock_count == 1
        with pytest.raises(SessionLockTimeout):
            async with store.hold(session_id):
                pass
    with pytest.raises(RuntimeError):
        async with store.hold(at_session_id()):
            raise RuntimeError
    assert store.lock_count == 0


# --- Redis specifics ------------------------------------------------------------------------


@pytest.mark.redis
async def test_redis_keys_use_the_documented_prefixes(open_redis_store: RedisStoreOpener) -> None:
    store: RedisSessionStore = await open_redis_store(prefix=keys.KEY_PREFIX)
    session = mid_journey_session()
    phone = "+26097" + str(secrets.randbelow(10**7)).zfill(7)  # unique, so other runs are untouched
    session_key = f"enerlectra:ussd:{{{session.id}}}:s"
    lock_key = f"enerlectra:ussd:{{{session.id}}}:lock"
    resume_key = f"enerlectra:resume:{{{phone}}}"
    raw = store.client
    try:
        await store.swap_resume(phone, session.id, keys.DEFAULT_RESUME_TTL_S)
        async with store.hold(session.id) as held:
            assert 0 < await raw.pttl(lock_key) <= keys.LOCK_TTL_MS
            held.keep(session, keys.DEFAULT_SESSION_TTL_S)
        assert await raw.exists(lock_key) == 0
        assert await raw.get(session_key) == codec.encode(session)
        assert await raw.get(resume_key) == session.id.encode()
        assert (
            (keys.DEFAULT_SESSION_TTL_S - 5) * 1000 < await raw.pttl(session_key) <= keys.DEFAULT_SESSION_TTL_S * 1000
        )
        assert (keys.DEFAULT_RESUME_TTL_S - 5) * 1000 < await raw.pttl(resume_key) <= keys.DEFAULT_RESUME_TTL_S * 1000
    finally:
        await raw.delete(session_key, lock_key, resume_key)


@pytest.mark.redis
async def test_redis_expires_sessions_itself(open_redis_store: RedisStoreOpener) -> None:
    """The one test that waits for real: the TTL is Redis's, not the harness's."""
    store: RedisSessionStore = await open_redis_store()
    session = mid_journey_session()
    await store.save(session, 1)
    assert 0 < await store.client.pttl(keys.session_key(session.id, store.prefix)) <= 1000
    await asyncio.sleep(1.2)
    assert await store.load(session.id) is None


@pytest.mark.redis
async def test_redis_lock_is_not_released_by_a_hop_whose_lock_expired(open_redis_store: RedisStoreOpener) -> None:
    store: RedisSessionStore = await open_redis_store()
    session_id = at_session_id()
    lock_key = keys.lock_key(session_id, store.prefix)
    late = mid_journey_session(session_id)
    async with store.hold(session_id) as held:
        # Our lock expired (a very slow hop) and another hop took it.
        await store.client.set(lock_key, "someone-else", px=keys.LOCK_TTL_MS)
        held.keep(late, keys.DEFAULT_SESSION_TTL_S)
    assert await store.client.get(lock_key) == b"someone-else"
    assert await store.load(session_id) == late  # the slow hop did happen: its session is kept


@pytest.mark.redis
async def test_redis_queues_200_hops_through_a_pool_of_16(open_redis_store: RedisStoreOpener) -> None:
    store: RedisSessionStore = await open_redis_store(pool_size=16, queue_timeout_s=10)
    sessions = [mid_journey_session() for _ in range(200)]

    async def hop(session: Session) -> Session | None:
        await store.save(session, keys.DEFAULT_SESSION_TTL_S)
        return await store.load(session.id)

    loaded = await asyncio.gather(*(hop(session) for session in sessions))
    assert loaded == sessions
    connections = sum(count for count, _ in store.client.connection_pool.get_connection_count())
    assert 0 < connections <= 16


@pytest.mark.redis
async def test_redis_store_refuses_to_open_on_a_dead_port() -> None:
    started = time.monotonic()
    with pytest.raises(SessionStoreUnavailable):
        await RedisSessionStore.open("redis://127.0.0.1:1/0", timeout_s=0.5)
    assert time.monotonic() - started < UNAVAILABLE_BOUND_S


async def assert_unavailable_promptly(store: RedisSessionStore) -> None:
    session = mid_journey_session()
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "load": lambda: store.load(session.id),
        "save": lambda: store.save(session, keys.DEFAULT_SESSION_TTL_S),
        "delete": lambda: store.delete(session.id),
        "swap_resume": lambda: store.swap_resume(PHONE, session.id, keys.DEFAULT_RESUME_TTL_S),
    }
    for name, call in calls.items():
        started = time.monotonic()
        with pytest.raises(SessionStoreUnavailable):
            await call()
        elapsed = time.monotonic() - started
        assert elapsed < UNAVAILABLE_BOUND_S, f"{name} took {elapsed:.2f} s"
    started = time.monotonic()
    with pytest.raises(SessionStoreUnavailable):
        async with store.hold(session.id):
            pass
    assert time.monotonic() - started < UNAVAILABLE_BOUND_S
    started = time.monotonic()
    assert await store.ping() is False
    assert time.monotonic() - started < UNAVAILABLE_BOUND_S


async def assert_works(store: RedisSessionStore) -> None:
    session = mid_journey_session()
    await store.save(session, keys.DEFAULT_SESSION_TTL_S)
    assert await store.load(session.id) == session
    async with store.hold(session.id):
        pass
    assert await store.ping() is True


@needs_redis_server
async def test_redis_down_means_busy_promptly_and_the_same_store_recovers() -> None:
    async with throwaway_redis() as server:
        store = await RedisSessionStore.open(server.url, pool_size=8, timeout_s=0.5)
        try:
            await assert_works(store)
            await server.stop()
            await server.start()
            await assert_works(store)  # pooled connections to the old process heal on first use
            await server.stop()
            await assert_unavailable_promptly(store)
            await server.start()  # same port, empty (no persistence)
            await assert_works(store)
        finally:
            await store.close()


@needs_redis_server
async def test_redis_hung_means_busy_promptly_and_the_same_store_recovers() -> None:
    async with throwaway_redis() as server:
        store = await RedisSessionStore.open(server.url, pool_size=8, timeout_s=0.5)
        try:
            await assert_works(store)
            server.pause()
            await assert_unavailable_promptly(store)
            server.resume()
            await assert_works(store)
        finally:
            await store.close()


@needs_redis_server
async def test_a_hop_in_flight_when_redis_dies_gets_busy_and_later_hops_recover() -> None:
    async with throwaway_redis() as server:
        store = await RedisSessionStore.open(server.url, pool_size=4, timeout_s=0.5)
        try:
            sessions = [mid_journey_session() for _ in range(20)]
            await asyncio.gather(*(store.save(s, keys.DEFAULT_SESSION_TTL_S) for s in sessions))
            await server.stop()
            started = time.monotonic()
            results = await asyncio.gather(*(store.load(s.id) for s in sessions), return_exceptions=True)
            assert all(isinstance(r, SessionStoreUnavailable) for r in results)
            assert time.monotonic() - started < UNAVAILABLE_BOUND_S
            await server.start()
            await asyncio.gather(*(assert_works(store) for _ in range(10)))
        finally:
            await store.close()


@needs_redis_server
async def test_hops_queued_too_long_behind_a_hung_redis_get_busy_without_waiting_their_turn() -> None:
    async with throwaway_redis() as server:
        store = await RedisSessionStore.open(server.url, pool_size=1, timeout_s=0.5, queue_timeout_s=0.1)
        try:
            server.pause()
            started = time.monotonic()
            results = await asyncio.gather(*(store.load(at_session_id()) for _ in range(5)), return_exceptions=True)
            assert all(isinstance(r, SessionStoreUnavailable) for r in results)
            # One hop holds the only connection for timeout_s; the queued ones give up after 0.1 s.
            assert time.monotonic() - started < 1.0
            server.resume()
            await assert_works(store)
        finally:
            await store.close()


# --- the per-phone hop count taken with the lock ----------------------------------------------


async def test_hops_are_counted_per_phone_in_a_window_that_starts_at_the_first(harness: Harness) -> None:
    count = HopCount("+260977123456", window_ms=60_000)
    other = HopCount("+260966234567", window_ms=60_000)
    seen = []
    for _ in range(3):
        async with harness.store.hold(at_session_id(), count) as held:
            seen.append(held.count)
            assert 0 < held.count_left_ms <= 60_000
    async with harness.store.hold(at_session_id(), other) as held:
        assert held.count == 1, "another phone has its own window"
    async with harness.store.hold(at_session_id()) as held:
        assert held.count == 0, "a hold without a count counts nothing"
    assert seen == [1, 2, 3]
    await harness.age(61)
    async with harness.store.hold(at_session_id(), count) as held:
        assert held.count == 1, "a new window once the last one ended"


async def test_a_hop_waiting_for_the_lock_is_counted_once(harness: Harness) -> None:
    session_id = at_session_id()
    count = HopCount("+260977123456", window_ms=60_000)
    async with harness.store.hold(session_id, count) as first:
        waiting = asyncio.create_task(_hold_count(harness, session_id, count))
        await asyncio.sleep(0.05)  # the second hop polls the lock meanwhile
        assert first.count == 1
    assert await waiting == 2


async def _hold_count(harness: Harness, session_id: str, count: HopCount) -> int:
    async with harness.store.hold(session_id, count) as held:
        return held.count


@pytest.mark.redis
async def test_the_count_survives_a_redis_that_forgot_its_scripts(open_redis_store: RedisStoreOpener) -> None:
    store = await open_redis_store()
    await store.client.script_flush()  # as after a Redis restart: the lock script must be loaded again
    count = HopCount("+260977123456", window_ms=60_000)
    session = rich_session(None)
    await store.save(session, keys.DEFAULT_SESSION_TTL_S)
    async with store.hold(session.id, count) as held:
        assert held.session == session
        assert held.count == 1
