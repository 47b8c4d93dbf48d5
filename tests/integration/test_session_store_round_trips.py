"""The session stores' round-trip savers: the resume pointer read with the lock, and REDIS_PARSER.

A dial reads the phone's resume pointer in the round trip that takes the lock
(a hint), then swaps it and reads the previous session in one more; whatever
the hint says, the answer is the one ``swap_resume`` then ``load`` would give.
Both reply parsers (and hiredis' command packer) give the same answers.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from redis._parsers import _AsyncHiredisParser, _AsyncRESP2Parser
from redis.asyncio.connection import Connection
from redis.utils import HIREDIS_AVAILABLE

from tests.support.redis import redis_url
from ussd_server.sessions import keys
from ussd_server.sessions.memory import MemorySessionStore
from ussd_server.sessions.model import Session
from ussd_server.sessions.redis_pool import HiredisPackingConnection, Parser
from ussd_server.sessions.redis_store import RedisSessionStore
from ussd_server.sessions.store import HopCount, SessionStore

PHONE = "+260977123456"
TTL_S = keys.DEFAULT_RESUME_TTL_S
PARSERS: tuple[Parser, ...] = ("hiredis", "python")


def session_id() -> str:
    return "ATUid_" + secrets.token_hex(16)


def session(sid: str, phone: str = PHONE) -> Session:
    return Session(id=sid, phone=phone, state="buy.confirm", values={"wh": 100})


async def open_redis(parser: Parser = "hiredis") -> RedisSessionStore:
    return await RedisSessionStore.open(redis_url(), prefix=f"test-{secrets.token_hex(4)}:enerlectra:", parser=parser)


async def close_redis(store: RedisSessionStore) -> None:
    async for key in store.client.scan_iter(match=f"{store.prefix}*"):
        await store.client.delete(key)
    await store.close()


@pytest.fixture(
    params=["memory", pytest.param("hiredis", marks=pytest.mark.redis), pytest.param("python", marks=pytest.mark.redis)]
)
async def store(request: pytest.FixtureRequest) -> AsyncIterator[SessionStore]:
    if request.param == "memory":
        yield MemorySessionStore()
        return
    redis_store = await open_redis(request.param)
    try:
        yield redis_store
    finally:
        await close_redis(redis_store)


async def test_swap_and_load_without_a_previous_dial(store: SessionStore) -> None:
    assert await store.swap_resume_and_load(PHONE, session_id(), TTL_S, hint=None) == (None, None)


@pytest.mark.parametrize("hint", ["right", "wrong", "none", "own"])
async def test_swap_and_load_gives_the_previous_dial_and_its_session_whatever_the_hint(
    store: SessionStore, hint: str
) -> None:
    first, second = session_id(), session_id()
    await store.save(session(first), TTL_S)
    await store.swap_resume(PHONE, first, TTL_S)
    given = {"right": first, "wrong": session_id(), "none": None, "own": second}[hint]
    previous, old = await store.swap_resume_and_load(PHONE, second, TTL_S, hint=given)
    assert previous == first
    assert old == session(first)
    assert await store.swap_resume(PHONE, session_id(), TTL_S) == second  # the swap happened


async def test_swap_and_load_of_a_previous_dial_whose_session_is_gone(store: SessionStore) -> None:
    first, second = session_id(), session_id()
    await store.swap_resume(PHONE, first, TTL_S)
    assert await store.swap_resume_and_load(PHONE, second, TTL_S, hint=first) == (first, None)


async def test_the_same_dial_again_is_not_its_own_previous_session(store: SessionStore) -> None:
    sid = session_id()
    await store.save(session(sid), TTL_S)
    await store.swap_resume(PHONE, sid, TTL_S)
    assert await store.swap_resume_and_load(PHONE, sid, TTL_S, hint=sid) == (sid, None)


@pytest.mark.redis
async def test_redis_reads_the_resume_pointer_with_the_lock_only_when_asked() -> None:
    store = await open_redis()
    try:
        first = session_id()
        await store.swap_resume(PHONE, first, TTL_S)
        count = HopCount(PHONE, keys.HOP_WINDOW_MS)
        async with store.hold(session_id(), count, PHONE) as held:
            assert held.resume_hint == first
            assert held.count == 1
        async with store.hold(session_id(), count) as held:
            assert held.resume_hint is None
            assert held.count == 2
        async with store.hold(session_id(), count, "+260961234567") as held:
            assert held.resume_hint is None  # that phone never dialled
    finally:
        await close_redis(store)


async def test_memory_gives_no_hint_and_needs_none() -> None:
    store = MemorySessionStore()
    await store.swap_resume(PHONE, "first", TTL_S)
    async with store.hold("second", HopCount(PHONE, keys.HOP_WINDOW_MS), PHONE) as held:
        assert held.resume_hint is None


@pytest.mark.redis
@pytest.mark.parametrize("parser", PARSERS)
async def test_redis_parser_setting_picks_the_parser_and_packer(parser: Parser) -> None:
    store = await open_redis(parser)
    try:
        pool = store.client.connection_pool
        hiredis = parser == "hiredis" and HIREDIS_AVAILABLE
        assert pool.connection_kwargs["parser_class"] is (_AsyncHiredisParser if hiredis else _AsyncRESP2Parser)
        assert pool.connection_class is (HiredisPackingConnection if hiredis else Connection)
        sid = session_id()
        async with store.hold(sid, HopCount(PHONE, keys.HOP_WINDOW_MS)) as held:
            assert held.session is None
            held.keep(session(sid), TTL_S)
        assert await store.load(sid) == session(sid)
        big = Session(id=sid, phone=PHONE, state="home", last_reply="x" * 10_000)  # past redis-py's chunking size
        await store.save(big, TTL_S)
        assert await store.load(sid) == big
    finally:
        await close_redis(store)


def test_hiredis_packs_commands_as_redis_py_does() -> None:
    if not HIREDIS_AVAILABLE:
        pytest.skip("hiredis is not installed")
    args = ("EVALSHA", "a" * 40, 2, "k:{x}:l", "k:{x}:s", "token", b"\x00\xff" * 4000, 180)
    assert b"".join(HiredisPackingConnection().pack_command(*args)) == b"".join(Connection().pack_command(*args))
