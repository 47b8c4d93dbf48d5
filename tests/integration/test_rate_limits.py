"""The shared rate limiter: the same answers from Redis and from process memory, and Redis faults.

Redis limiters use a random key prefix and delete their keys afterwards (the
shared Redis is never flushed).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.crc import key_slot

from tests.support.redis import redis_url, throwaway_redis
from ussd_server.rate_limits import RateLimiter, RateLimiterUnavailable
from ussd_server.sessions import keys

# A correctness bound for "answer within a second", kept generous for slow CI machines.
UNAVAILABLE_BOUND_S = 1.5


def unique_prefix() -> str:
    return f"test-{secrets.token_hex(4)}:enerlectra:"


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    if request.param == "memory":
        memory = await RateLimiter.open(None, pool_size=8)
        yield memory
        await memory.close()
        return
    prefix = unique_prefix()
    shared = await RateLimiter.open(redis_url(), pool_size=8, prefix=prefix)
    yield shared
    await shared.close()
    raw = Redis.from_url(redis_url())
    async for key in raw.scan_iter(match=f"{prefix}*"):
        await raw.delete(key)
    await raw.aclose()


async def test_n_hits_are_allowed_and_the_next_is_told_when_to_come_back(limiter: RateLimiter) -> None:
    for _ in range(5):
        assert await limiter.hit("5/minute", "pin", "+260977123456") is None
    wait = await limiter.hit("5/minute", "pin", "+260977123456")
    assert wait is not None
    assert 1 <= wait <= 60, "a refused caller may try again within the window, never at once"
    assert wait == int(wait), "Retry-After is whole seconds"
    assert await limiter.peek("5/minute", "pin", "+260977123456") is not None, "still refused"


async def test_identities_and_limits_count_separately(limiter: RateLimiter) -> None:
    for _ in range(3):
        assert await limiter.hit("3/minute", "pin", "+260977123456") is None
    assert await limiter.hit("3/minute", "pin", "+260977123456") is not None
    assert await limiter.hit("3/minute", "pin", "+260966123456") is None, "another phone has its own budget"
    assert await limiter.hit("3/minute", "hop", "+260977123456") is None, "another limit has its own budget"
    # Untrusted parts cannot pass for other parts: "a/b" + "c" is not "a" + "b/c".
    for _ in range(3):
        assert await limiter.hit("3/minute", "x", "a/b", "c") is None
    assert await limiter.hit("3/minute", "x", "a", "b/c") is None


async def test_peek_counts_nothing(limiter: RateLimiter) -> None:
    for _ in range(10):
        assert await limiter.peek("2/minute", "auth", "10.0.0.7") is None
    assert await limiter.hit("2/minute", "auth", "10.0.0.7") is None
    assert await limiter.hit("2/minute", "auth", "10.0.0.7") is None
    wait = await limiter.peek("2/minute", "auth", "10.0.0.7")
    assert wait is not None
    assert 1 <= wait <= 60


async def test_the_window_passes(limiter: RateLimiter) -> None:
    assert await limiter.hit("1/second", "hop", "+260977123456") is None
    wait = await limiter.hit("1/second", "hop", "+260977123456")
    assert wait == 1
    deadline = time.monotonic() + 3
    while await limiter.peek("1/second", "hop", "+260977123456") is not None:
        assert time.monotonic() < deadline, "still refused long after the window"
        await asyncio.sleep(0.05)
    assert await limiter.hit("1/second", "hop", "+260977123456") is None


def test_keys_are_single_slot_and_hostile_identities_cannot_break_the_hash_tag() -> None:
    hostile = "}{evil\n" + "x" * 500
    identity = keys.rate_identity(keys.RATE_AUTH_FAILURES, hostile)
    assert identity.count("{") == 1
    assert identity.count("}") == 1
    assert identity.startswith("{")
    assert identity.endswith("}")
    assert "\n" not in identity
    assert len(identity) < 100
    # The library's own key (after our prefix) has the identity as its only hash tag.
    key = f"{keys.rate_key_prefix()}:LIMITER/{identity}/10/1/minute"
    assert key_slot(key.encode()) == key_slot(identity.strip("{}").encode())


@pytest.mark.redis
async def test_redis_stopped_is_unavailable_within_a_second() -> None:
    async with throwaway_redis() as server:
        limiter = await RateLimiter.open(server.url, pool_size=8, prefix=unique_prefix())
        try:
            assert await limiter.hit("5/minute", "pin", "+260977123456") is None
            await server.stop()
            for call in (limiter.hit, limiter.peek):
                started = time.monotonic()
                with pytest.raises(RateLimiterUnavailable) as excinfo:
                    await call("5/minute", "pin", "+260977123456")
                assert time.monotonic() - started < UNAVAILABLE_BOUND_S
                assert excinfo.value.__cause__ is not None, "raised from the cause"
        finally:
            await limiter.close()


@pytest.mark.redis
async def test_redis_hung_is_unavailable_within_a_second() -> None:
    async with throwaway_redis() as server:
        limiter = await RateLimiter.open(server.url, pool_size=8, prefix=unique_prefix())
        try:
            assert await limiter.hit("5/minute", "pin", "+260977123456") is None
            server.pause()
            started = time.monotonic()
            with pytest.raises(RateLimiterUnavailable):
                await limiter.hit("5/minute", "pin", "+260977123456")
            assert time.monotonic() - started < UNAVAILABLE_BOUND_S
            server.resume()
        finally:
            await limiter.close()


@pytest.mark.redis
async def test_a_wrong_redis_url_fails_at_open() -> None:
    async with throwaway_redis() as server:
        url = server.url
        await server.stop()
        started = time.monotonic()
        with pytest.raises(RateLimiterUnavailable):
            await RateLimiter.open(url, pool_size=8, prefix=unique_prefix())
        assert time.monotonic() - started < UNAVAILABLE_BOUND_S
