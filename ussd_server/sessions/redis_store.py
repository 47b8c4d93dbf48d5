"""The Redis session store: shared by every server process in a scale-out deployment.

One client and one connection pool per process, never a client per hop. A FIFO
semaphore sized like the pool sits in front of every command: redis-py's plain
pool raises "Too many connections" at its limit and its blocking pool is
unfair under overload, while asyncio.Semaphore queues waiters in arrival order.
Short socket timeouts and at most one immediate retry (only for a dropped
connection, never for a timeout) keep a dead or hung Redis from holding a hop
for more than about a second; every failure surfaces as SessionStoreUnavailable.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from ussd_server.sessions import codec, keys
from ussd_server.sessions.model import Session
from ussd_server.sessions.store import SessionLockTimeout, SessionStoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_POOL_SIZE = 256
DEFAULT_TIMEOUT_S = 0.5
# A hop queued behind this many seconds of other hops is better answered "busy".
DEFAULT_QUEUE_TIMEOUT_S = 1.0

# Deletes the lock only if it still holds our token: a hop that outlived
# LOCK_TTL_MS must not release the lock a later hop has since taken.
RELEASE_LOCK_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisSessionStore:
    """A :class:`~ussd_server.sessions.store.SessionStore` on Redis (standalone or Cluster-ready keys).

    Build it with :meth:`open`. The same object keeps working after Redis
    restarts: broken pooled connections are detected and reopened by redis-py.
    """

    def __init__(
        self,
        client: Redis,
        *,
        pool_size: int = DEFAULT_POOL_SIZE,
        prefix: str = keys.KEY_PREFIX,
        queue_timeout_s: float = DEFAULT_QUEUE_TIMEOUT_S,
        lock_wait_s: float = keys.LOCK_WAIT_S,
    ) -> None:
        self.client = client
        self.prefix = keys.check_prefix(prefix)
        self._slots = asyncio.Semaphore(pool_size)
        self._queue_timeout_s = queue_timeout_s
        self._lock_wait_s = lock_wait_s
        self._release_lock = client.register_script(RELEASE_LOCK_LUA)

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        pool_size: int = DEFAULT_POOL_SIZE,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        prefix: str = keys.KEY_PREFIX,
        queue_timeout_s: float = DEFAULT_QUEUE_TIMEOUT_S,
        lock_wait_s: float = keys.LOCK_WAIT_S,
    ) -> RedisSessionStore:
        """Connect and PING once, so a wrong REDIS_URL fails at start-up, not on the first dial."""
        pool = ConnectionPool.from_url(
            url,
            max_connections=pool_size,
            socket_connect_timeout=timeout_s,
            socket_timeout=timeout_s,
            # One immediate retry heals a pooled connection that Redis closed
            # (restart, idle timeout); a timeout is not retried, it already cost timeout_s.
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        store = cls(
            Redis.from_pool(pool),
            pool_size=pool_size,
            prefix=prefix,
            queue_timeout_s=queue_timeout_s,
            lock_wait_s=lock_wait_s,
        )
        try:
            await store._run(store.client.ping)
        except SessionStoreUnavailable:
            await store.close()
            raise
        return store

    async def _run(self, command: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run one command inside a pool slot, translating every failure."""
        await self._take_slot()
        try:
            return await command(*args, **kwargs)
        # OSError also covers asyncio/builtin TimeoutError should one escape redis-py.
        except (RedisError, OSError) as exc:
            raise SessionStoreUnavailable(f"redis: {exc}") from exc
        finally:
            self._slots.release()

    async def _take_slot(self) -> None:
        if not self._slots.locked():  # the common case: no timer needed
            await self._slots.acquire()
            return
        try:
            async with asyncio.timeout(self._queue_timeout_s):
                await self._slots.acquire()
        except TimeoutError as exc:
            raise SessionStoreUnavailable("redis session store overloaded") from exc

    async def load(self, session_id: str) -> Session | None:
        return _decode(await self._run(self.client.get, keys.session_key(session_id, self.prefix)))

    async def save(self, session: Session, ttl_s: int) -> None:
        keys.check_ttl(ttl_s)
        key = keys.session_key(session.id, self.prefix)
        await self._run(self.client.set, key, codec.encode(session), ex=ttl_s)

    async def delete(self, session_id: str) -> None:
        await self._run(self.client.delete, keys.session_key(session_id, self.prefix))

    @asynccontextmanager
    async def lock(self, session_id: str) -> AsyncIterator[None]:
        key = keys.lock_key(session_id, self.prefix)
        token = secrets.token_hex(8)
        await self._acquire_lock(key, token)
        try:
            yield
        finally:
            try:
                await self._run(self._release_lock, keys=[key], args=[token])
            except SessionStoreUnavailable as exc:
                # Never mask the hop's own outcome; the lock expires after LOCK_TTL_MS.
                log.warning("could not release session lock %s: %s", key, exc)

    async def _acquire_lock(self, key: str, token: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._lock_wait_s
        delay = keys.LOCK_POLL_MIN_S
        # Polling rather than pub/sub: contention is rare (a retried hop) and
        # short, and a poll holds no connection while it sleeps.
        while not await self._run(self.client.set, key, token, nx=True, px=keys.LOCK_TTL_MS):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise SessionLockTimeout(f"session lock {key} still held after {self._lock_wait_s} s")
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, keys.LOCK_POLL_MAX_S)

    async def save_resume(self, phone: str, session: Session, ttl_s: int) -> None:
        keys.check_ttl(ttl_s)
        key = keys.resume_key(phone, self.prefix)
        await self._run(self.client.set, key, codec.encode(session), ex=ttl_s)

    async def load_resume(self, phone: str) -> Session | None:
        return _decode(await self._run(self.client.get, keys.resume_key(phone, self.prefix)))

    async def drop_resume(self, phone: str) -> None:
        await self._run(self.client.delete, keys.resume_key(phone, self.prefix))

    async def ping(self) -> bool:
        try:
            return bool(await self._run(self.client.ping))
        except SessionStoreUnavailable:
            return False

    async def close(self) -> None:
        # from_pool() handed the pool to the client, so this also disconnects the pool.
        await self.client.aclose()


def _decode(data: bytes | str | None) -> Session | None:
    # The client never decodes responses, so a present value is always bytes.
    return codec.decode(data) if isinstance(data, bytes) else None
