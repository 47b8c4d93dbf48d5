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

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError, ResponseError

from ussd_server.sessions import codec, keys
from ussd_server.sessions.model import Session
from ussd_server.sessions.redis_pool import Parser, open_pool
from ussd_server.sessions.store import Held, HopCount, SessionLockTimeout, SessionStoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_POOL_SIZE = 256
DEFAULT_TIMEOUT_S = keys.COMMAND_TIMEOUT_MS / 1000
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
        parser: Parser = "hiredis",
    ) -> RedisSessionStore:
        """Connect and PING once, so a wrong REDIS_URL fails at start-up, not on the first dial.

        No socket timeout: _run bounds each command (retry included) with one
        asyncio.timeout instead; a command cut off that way disconnects its
        connection, so no reply is misread (see redis_pool).
        """
        pool = open_pool(url, max_connections=pool_size, timeout_s=timeout_s, parser=parser)
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

    async def _exchange(self, *commands: tuple[Any, ...]) -> list[Any]:
        """Write ``commands`` at once on one pooled connection and read their replies, in order.

        The same exchange as a redis-py pipeline (or one ``execute_command``)
        and the same retry policy, without the client's per-command layers,
        which cost about as much client CPU as the round trip itself: a hop's
        lock and hop count took 65 us through a Pipeline object, 31 us this
        way; a script call 36 us, 25 us (measured in-process, uvloop, hiredis).
        An error reply (NOSCRIPT) comes back as its exception, after every
        reply was read, so the connection never desyncs. Call it through _run.
        """
        pool = self.client.connection_pool
        conn: AbstractConnection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            replies: list[Any] = await conn.retry.call_with_retry(
                lambda: _send_and_read(conn, commands), lambda _error: conn.disconnect()
            )
            return replies
        finally:
            await pool.release(conn)

    async def _command(self, *args: Any) -> Any:
        (reply,) = await self._run(self._exchange, args)
        if isinstance(reply, ResponseError):
            raise SessionStoreUnavailable(f"redis: {reply}") from reply
        return reply

    async def _script(self, script: AsyncScript, keys_: list[str], args: list[Any]) -> Any:
        """EVALSHA, loading the script first if Redis lost it (a restart)."""
        (reply,) = await self._run(self._exchange, ("EVALSHA", script.sha, len(keys_), *keys_, *args))
        if isinstance(reply, NoScriptError):
            return await self._run(script, keys=keys_, args=args)  # redis-py loads it, then runs it
        if isinstance(reply, ResponseError):
            raise SessionStoreUnavailable(f"redis: {reply}") from reply
        return reply

    async def load(self, session_id: str) -> Session | None:
        return _decode(await self._command("GET", keys.session_key(session_id, self.prefix)))

    async def save(self, session: Session, ttl_s: int) -> None:
        keys.check_ttl(ttl_s)
        key = keys.session_key(session.id, self.prefix)
        await self._command("SET", key, codec.encode(session), "EX", ttl_s)

    async def delete(self, session_id: str) -> None:
        await self._command("DEL", keys.session_key(session_id, self.prefix))

    @asynccontextmanager
    async def hold(
        self, session_id: str, count: HopCount | None = None, resume_of: str | None = None
    ) -> AsyncIterator[Held]:
        lock_key = keys.lock_key(session_id, self.prefix)
        session_key = keys.session_key(session_id, self.prefix)
        token = secrets.token_hex(8)
        hops, left_ms, hint = 0, 0, None
        if count is None:  # resume_of rides on the counted round trip only (every hop is counted)
            session = await self._acquire(lock_key, session_key, token)
        else:
            session, hops, left_ms, hint = await self._first_try_counted(lock_key, session_key, token, count, resume_of)
        held = Held(session, hops, left_ms, hint)
        try:
            yield held
        except BaseException:
            await self._release(lock_key, session_key, token)
            raise
        # Saving is part of the hop: if it fails, the hop fails ("busy"), unlike a failed bare release.
        data = b"" if held.kept is None else codec.encode(held.kept)
        await self._script(self._save_and_release, [lock_key, session_key], [token, data, held.ttl_s])

    async def _first_try_counted(
        self, lock_key: str, session_key: str, token: str, count: HopCount, resume_of: str | None
    ) -> tuple[Session | None, int, int, str | None]:
        """The first try at the lock and the phone's hop count (and resume pointer), pipelined in one round trip.

        Both scripts go by EVALSHA: a pipeline holding Script objects would ask
        SCRIPT EXISTS first, another round trip. After a Redis restart they
        answer NOSCRIPT; the plain calls then load them. The resume pointer is
        only read (a hint for swap_resume_and_load): the swap itself happens
        later, and only if this hop starts a session.
        """
        counter = keys.hops_key(count.phone, self.prefix)
        commands: list[tuple[Any, ...]] = [
            ("EVALSHA", self._lock_and_load.sha, 2, lock_key, session_key, token, keys.LOCK_TTL_MS),
            ("EVALSHA", self._count_hop.sha, 1, counter, count.window_ms),
        ]
        if resume_of is not None:
            commands.append(("GET", keys.resume_key(resume_of, self.prefix)))
        reply, counted, *pointer = await self._run(self._exchange, *commands)
        hint = codec.decode_id(pointer[0]) if pointer and isinstance(pointer[0], bytes) else None
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
        return session, int(counted[0]), max(int(counted[1]), 0), hint

    async def _acquire(self, lock_key: str, session_key: str, token: str) -> Session | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._lock_wait_s
        delay = keys.LOCK_POLL_MIN_S
        # Polling rather than pub/sub: contention is rare (a retried hop) and
        # short, and a poll holds no connection while it sleeps.
        while True:
            reply = await self._script(self._lock_and_load, [lock_key, session_key], [token, keys.LOCK_TTL_MS])
            if reply[0] == 1:
                return _decode(reply[1] if len(reply) > 1 else None)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise SessionLockTimeout(f"session lock {lock_key} still held after {self._lock_wait_s} s")
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, keys.LOCK_POLL_MAX_S)

    async def _release(self, lock_key: str, session_key: str, token: str) -> None:
        try:
            await self._script(self._save_and_release, [lock_key, session_key], [token, b"", 0])
        except SessionStoreUnavailable as exc:
            # Never mask the hop's own outcome; the lock expires after LOCK_TTL_MS.
            log.warning("could not release session lock %s: %s", lock_key, exc)

    async def swap_resume(self, phone: str, session_id: str, ttl_s: int) -> str | None:
        keys.check_ttl(ttl_s)
        key = keys.resume_key(phone, self.prefix)
        previous = await self._command("SET", key, codec.encode_id(session_id), "EX", ttl_s, "GET")
        return codec.decode_id(previous) if isinstance(previous, bytes) else None

    async def swap_resume_and_load(
        self, phone: str, session_id: str, ttl_s: int, hint: str | None = None
    ) -> tuple[str | None, Session | None]:
        """The swap and, when ``hint`` names the previous dial, its session in the same round trip (a dial's third)."""
        keys.check_ttl(ttl_s)
        commands: list[tuple[Any, ...]] = [
            ("SET", keys.resume_key(phone, self.prefix), codec.encode_id(session_id), "EX", ttl_s, "GET")
        ]
        if hint is not None and hint != session_id:
            commands.append(("GET", keys.session_key(hint, self.prefix)))
        replies = await self._run(self._exchange, *commands)
        for reply in replies:
            if isinstance(reply, ResponseError):
                raise SessionStoreUnavailable(f"redis: {reply}") from reply
        previous = codec.decode_id(replies[0]) if isinstance(replies[0], bytes) else None
        if previous is None or previous == session_id:
            return previous, None
        if len(replies) > 1 and previous == hint:
            return previous, _decode(replies[1])
        return previous, await self.load(previous)  # another dial swapped in between: read the right one

    async def ping(self) -> bool:
        try:
            return bool(await self._run(self.client.ping))
        except SessionStoreUnavailable:
            return False

    async def close(self) -> None:
        # from_pool() handed the pool to the client, so this also disconnects the pool.
        await self.client.aclose()


async def _send_and_read(conn: AbstractConnection, commands: tuple[tuple[Any, ...], ...]) -> list[Any]:
    await conn.send_packed_command(conn.pack_commands(commands), check_health=False)
    replies: list[Any] = []
    for _ in commands:
        try:
            replies.append(await conn.read_response())
        except ResponseError as exc:  # this command's own error: the replies after it are still read
            replies.append(exc)
    return replies


def _decode(data: bytes | str | None) -> Session | None:
    # The client never decodes responses, so a present value is always bytes.
    return codec.decode(data) if isinstance(data, bytes) else None
