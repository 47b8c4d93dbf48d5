"""One rate limiter for the whole server, over the ``limits`` library.

Shared across processes through Redis when ``REDIS_URL`` is set, in process
memory otherwise; both give the same answers. Callers name a rate
(``"10/minute"``) and who is counted (a limit name from
:mod:`ussd_server.sessions.keys`, then untrusted parts such as a phone or an
address)::

    wait = await limiter.hit("6/minute", keys.RATE_PIN_CHECKS, phone)
    if wait is not None:
        ...  # refused: a new try is allowed in `wait` seconds

Strategy: a fixed window that starts at the first hit (the library's INCR +
EXPIRE script). A hit is one round trip on one key (single slot on Redis
Cluster), and the key's TTL is exactly when the caller may try again, so
"blocked until the window passes" is what a refused caller is told. Its known
weakness, up to twice the rate across a window boundary, is acceptable here:
these limits bound cost and guessing speed, and PIN lockouts are counted in
the database anyway. The sliding-window counter would smooth that edge but
costs a second round trip for every refusal and only estimates the wait.

Failure policy belongs to the caller: any Redis trouble (down, hung, pool
exhausted) surfaces as :class:`RateLimiterUnavailable` within ``timeout_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import time
from collections.abc import AsyncIterator

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from redis.asyncio import ConnectionPool, Redis
from redis.exceptions import RedisError

from ussd_server.sessions import keys
from ussd_server.sessions.redis_pool import Parser, open_pool

DEFAULT_TIMEOUT_S = keys.COMMAND_TIMEOUT_MS / 1000  # like the session store


class RateLimiterUnavailable(Exception):
    """The shared counters cannot be reached; the caller decides between refusing and allowing."""


@functools.lru_cache(maxsize=256)
def _parse(rate: str) -> RateLimitItem:
    return parse(rate)


class RateLimiter:
    """Counts hits per (rate, identity) and says how long a refused caller must wait.

    Build it with :meth:`open`; close it with :meth:`close`.
    """

    def __init__(
        self, storage: Storage, *, pool: ConnectionPool | None = None, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self._storage = storage
        self._limiter = FixedWindowRateLimiter(storage)
        self._pool = pool
        # Like the session store: waiting for a free connection is bounded by the
        # same timeout as the command, so an overloaded pool answers "unavailable".
        self._slots = asyncio.Semaphore(pool.max_connections) if pool is not None else None
        self._timeout_s = timeout_s

    @classmethod
    async def open(
        cls,
        redis_url: str | None,
        *,
        pool_size: int,
        prefix: str = keys.KEY_PREFIX,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        parser: Parser = "hiredis",
    ) -> RateLimiter:
        """Redis when ``redis_url`` is given (PINGed once, so a wrong URL fails at start-up), else memory."""
        key_prefix = keys.rate_key_prefix(prefix)
        if not redis_url:
            return cls(MemoryStorage(), timeout_s=timeout_s)
        # Like the session store's: asyncio.timeout bounds each call instead of a socket timeout.
        pool = open_pool(redis_url, max_connections=pool_size, timeout_s=timeout_s, parser=parser)
        # The library only needs a URI to pick its client: the pool carries the real address and credentials.
        storage = RedisStorage(
            "redis://",
            implementation="redispy",
            key_prefix=key_prefix,
            connection_pool=pool,  # type: ignore[arg-type]  # passed through to redis.asyncio.Redis
        )
        limiter = cls(storage, pool=pool, timeout_s=timeout_s)
        try:
            async with limiter._bounded():
                await Redis(connection_pool=pool).ping()
        except BaseException:
            await limiter.close()
            raise
        return limiter

    @contextlib.asynccontextmanager
    async def _bounded(self) -> AsyncIterator[None]:
        """One time bound over the queue for a connection and every command; failures become unavailable."""
        if self._slots is None:  # memory: nothing to wait for, nothing to fail
            yield
            return
        try:
            async with asyncio.timeout(self._timeout_s), self._slots:
                yield
        # OSError covers the TimeoutError of asyncio.timeout and any socket error.
        except (RedisError, OSError) as exc:
            raise RateLimiterUnavailable(f"rate limiter: redis: {exc!r}") from exc

    async def hit(self, rate: str | RateLimitItem, *identity: str) -> float | None:
        """Count one hit: None if allowed, else the seconds (>= 1, whole) until a hit would be allowed."""
        item = _parse(rate) if isinstance(rate, str) else rate
        key = keys.rate_identity(*identity)
        async with self._bounded():
            if await self._limiter.hit(item, key):
                return None
            return await self._wait_s(item, key)

    async def peek(self, rate: str | RateLimitItem, *identity: str) -> float | None:
        """Like :meth:`hit` without counting: whether a hit now would be allowed."""
        item = _parse(rate) if isinstance(rate, str) else rate
        key = keys.rate_identity(*identity)
        async with self._bounded():
            if await self._limiter.test(item, key):
                return None
            return await self._wait_s(item, key)

    async def _wait_s(self, item: RateLimitItem, key: str) -> float:
        reset_at = await self._storage.get_expiry(item.key_for(key))
        # Redis reports TTLs in whole seconds: round up, and never tell anyone to retry at once.
        return float(max(1, math.ceil(reset_at - time.time())))

    async def close(self) -> None:
        if isinstance(self._storage, MemoryStorage):
            # The memory storage sweeps expired counters in a task of its own; it must not outlive the app.
            timer = self._storage.timer
            if timer is not None and not timer.done():
                timer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await timer
        if self._pool is not None:
            await self._pool.aclose()
