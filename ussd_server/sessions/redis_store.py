"""The Redis session store: shared by every server process in a scale-out deployment.

One client and one connection pool per process, never a client per hop. A FIFO
semaphore sized like the pool sits in front of every command: redis-py's plain
pool raises "Too many connections" at its limit and its blocking pool is
unfair under overload, while asyncio.Semaphore queues waiters in arrival order.
A short timeout per command and at most one immediate retry (only for a
dropped connection, never for a timeout) keep a dead or hung Redis from
holding a hop for more than about a second; every failure surfaces as SessionStoreUnavailable.
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
from redis.exceptions import NoScriptError, RedisError

from ussd_server.sessions import codec, keys
from ussd_server.sessions.model import Session
from ussd_server.sessions.store import Held, HopCount, SessionLockTimeout, SessionStoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_POOL_SIZE = 256
DEFAULT_TIMEOUT_S = 0.5
# A hop queued behind this many seconds of other hops is better answered "busy".
DEFAULT_QUEUE_TIMEOUT_S = 1.0

# A hop costs two round trips, not four: the lock is taken and the session
# read in one script (pipelined with the phone's hop count), the session
# written and the lock released in another.
# KEYS[1] is the lock, KEYS[2] the session; both carry the same hash tag, so
# the scripts are valid on Redis Cluster.
LOCK_AND_LOAD_LUA = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    return {1, redis.call('GET', KEYS[2])}
end
return {0}
"""

# The lock is deleted only if it still holds our token: a hop that outlived
# LOCK_TTL_MS must not release the lock a later hop has since taken. Its
# session is still saved, as a hop that finished late has still happened.
SAVE_AND_RELEASE_LUA = """
if ARGV[2] ~= '' then
    redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


# A phone's hop count in a fixed window that starts at its first hop: one command,
# and the counter can never be left without an expiry.
COUNT_HOP_LUA = """
local hops = redis.call('INCR', KEYS[1])
if hops == 1 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return {hops, redis.call('PTTL', KEYS[1])}
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
        command_timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.client = client
        self._command_timeout_s = command_timeout_s
        self.prefix = keys.check_prefix(prefix)
        self._slots = asyncio.Semaphore(pool_size)
        self._queue_timeout_s = queue_timeout_s
        self._lock_wait_s = lock_wait_s
        self._lock_and_load = client.register_script(LOCK_AND_LOAD_LUA)
        self._save_and_release = client.register_script(SAVE_AND_RELEASE_LUA)
        self._count_hop = client.register_script(COUNT_HOP_LUA)

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
            # No socket_timeout: redis-py would wrap every send in asyncio.wait_for,
            # a Task and an extra loop iteration per command. _run bounds each
            # command (retry included) with one asyncio.timeout instead; a command
            # cut off that way disconnects its connection, so no reply is misread.
            socket_timeout=None,
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
            command_timeout_s=timeout_s,
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
            async with asyncio.timeout(self._command_timeout_s):
                return await command(*args, **kwargs)
        # OSError covers the TimeoutError of asyncio.timeout (and any other socket error).
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
    async def hold(self, session_id: str, count: HopCount | None = None) -> AsyncIterator[Held]:
        lock_key = keys.lock_key(session_id, self.prefix)
        session_key = keys.session_key(session_id, self.prefix)
        token = secrets.token_hex(8)
        hops, left_ms = 0, 0
        if count is None:
            session = await self._acquire(lock_key, session_key, token)
        else:
            counted = await self._first_try_counted(lock_key, session_key, token, count)
            session, hops, left_ms = counted
        held = Held(session, hops, left_ms)
        try:
            yield held
        except BaseException:
            await self._release(lock_key, session_key, token)
            raise
        # Saving is part of the hop: if it fails, the hop fails ("busy"), unlike a failed bare release.
        data = b"" if held.kept is None else codec.encode(held.kept)
        await self._run(self._save_and_release, keys=[lock_key, session_key], args=[token, data, held.ttl_s])

    async def _first_try_counted(
        self, lock_key: str, session_key: str, token: str, count: HopCount
    ) -> tuple[Session | None, int, int]:
        """The first try at the lock and the phone's hop count, pipelined in one round trip.

        Both scripts go by EVALSHA: a pipeline holding Script objects would ask
        SCRIPT EXISTS first, another round trip. After a Redis restart they
        answer NOSCRIPT; the plain calls then load them.
        """
        counter = keys.hops_key(count.phone, self.prefix)

        async def both() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            pipe.evalsha(self._lock_and_load.sha, 2, lock_key, session_key, token, keys.LOCK_TTL_MS)
            pipe.evalsha(self._count_hop.sha, 1, counter, count.window_ms)
            return list(await pipe.execute(raise_on_error=False))

        reply, counted = await self._run(both)
        if isinstance(counted, NoScriptError):
            counted = await self._run(self._count_hop, keys=[counter], args=[count.window_ms])
        elif isinstance(counted, Exception):
            raise SessionStoreUnavailable(f"redis: {counted}") from counted
        if isinstance(reply, Exception) and not isinstance(reply, NoScriptError):
            raise SessionStoreUnavailable(f"redis: {reply}") from reply
        if not isinstance(reply, Exception) and reply[0] == 1:
            session = _decode(reply[1] if len(reply) > 1 else None)
        else:  # the lock is taken (a retried hop), or the script must be loaded: the plain path
            session = await self._acquire(lock_key, session_key, token)
        return session, int(counted[0]), max(int(counted[1]), 0)

    async def _acquire(self, lock_key: str, session_key: str, token: str) -> Session | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._lock_wait_s
        delay = keys.LOCK_POLL_MIN_S
        # Polling rather than pub/sub: contention is rare (a retried hop) and
        # short, and a poll holds no connection while it sleeps.
        while True:
            reply = await self._run(self._lock_and_load, keys=[lock_key, session_key], args=[token, keys.LOCK_TTL_MS])
            if reply[0] == 1:
                return _decode(reply[1] if len(reply) > 1 else None)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise SessionLockTimeout(f"session lock {lock_key} still held after {self._lock_wait_s} s")
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, keys.LOCK_POLL_MAX_S)

    async def _release(self, lock_key: str, session_key: str, token: str) -> None:
        try:
            await self._run(self._save_and_release, keys=[lock_key, session_key], args=[token, b"", 0])
        except SessionStoreUnavailable as exc:
            # Never mask the hop's own outcome; the lock expires after LOCK_TTL_MS.
            log.warning("could not release session lock %s: %s", lock_key, exc)

    async def swap_resume(self, phone: str, session_id: str, ttl_s: int) -> str | None:
        keys.check_ttl(ttl_s)
        key = keys.resume_key(phone, self.prefix)
        previous = await self._run(self.client.set, key, codec.encode_id(session_id), ex=ttl_s, get=True)
        return codec.decode_id(previous) if isinstance(previous, bytes) else None

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
