"""The in-process session store: the embedded default when REDIS_URL is unset.

It keeps encoded bytes rather than Session objects so it behaves exactly like
Redis: a loaded session is a private copy (a hop mutating it cannot change
what another hop sees until it saves), and the same codec runs on both paths.
Only correct for a single server process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from ussd_server.sessions import codec, keys
from ussd_server.sessions.model import Session
from ussd_server.sessions.store import Held, HopCount, SessionLockTimeout

Monotonic = Callable[[], float]

DEFAULT_MAX_ENTRIES = 100_000  # far above the concurrent dials one process can serve
SWEEP_INTERVAL_S = 30.0


class _ExpiringMap:
    """Bytes with deadlines, bounded in size.

    Expired entries are invisible at once, dropped lazily on access and by a
    full sweep at most every SWEEP_INTERVAL_S (or when over the bound). Writes
    move a key to the end, so if live entries alone exceed the bound the least
    recently saved go first: sessions are lost rather than memory exhausted.
    """

    def __init__(self, monotonic: Monotonic, max_entries: int) -> None:
        self._monotonic = monotonic
        self._max_entries = max_entries
        self._entries: dict[str, tuple[float, bytes]] = {}
        self._next_sweep = monotonic() + SWEEP_INTERVAL_S

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        deadline, data = entry
        if self._monotonic() >= deadline:
            del self._entries[key]
            return None
        return data

    def put(self, key: str, data: bytes, ttl_s: float) -> None:
        keys.check_ttl(ttl_s)
        now = self._monotonic()
        self._entries.pop(key, None)
        self._entries[key] = (now + ttl_s, data)
        if now >= self._next_sweep or len(self._entries) > self._max_entries:
            self.sweep(now)

    def pop(self, key: str) -> None:
        self._entries.pop(key, None)

    def remaining_s(self, key: str) -> float | None:
        """Seconds until the key expires, None if absent (for tests and diagnostics)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        remaining = entry[0] - self._monotonic()
        return remaining if remaining > 0 else None

    def sweep(self, now: float) -> None:
        self._next_sweep = now + SWEEP_INTERVAL_S
        expired = [key for key, (deadline, _) in self._entries.items() if now >= deadline]
        for key in expired:
            del self._entries[key]
        # Evict down to 90% of the bound, so a full store sweeps once per 10%
        # of max_entries saves instead of on every save.
        overflow = len(self._entries) - self._max_entries
        if overflow > 0:
            overflow += self._max_entries // 10
            for key in list(self._entries)[:overflow]:
                del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()


class _LockSlot:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0  # holders plus waiters; the slot is dropped when it reaches 0


class MemorySessionStore:
    """A :class:`~ussd_server.sessions.store.SessionStore` held in this process.

    ``monotonic`` is injectable so tests move time instead of sleeping.
    ``sessions`` and ``resumes`` are the underlying maps, open for diagnostics
    and tests (sizes, remaining TTLs, writing raw bytes).
    """

    def __init__(
        self,
        *,
        monotonic: Monotonic = time.monotonic,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        lock_wait_s: float = keys.LOCK_WAIT_S,
    ) -> None:
        self.sessions = _ExpiringMap(monotonic, max_entries)
        self.resumes = _ExpiringMap(monotonic, max_entries)
        self._monotonic = monotonic
        # Per phone: (when its window ends, hops counted in it), like the Redis counter's value and TTL.
        self._hops: dict[str, tuple[float, int]] = {}
        self._max_entries = max_entries
        self._locks: dict[str, _LockSlot] = {}
        self._lock_wait_s = lock_wait_s

    async def load(self, session_id: str) -> Session | None:
        data = self.sessions.get(keys.tag(session_id))
        return None if data is None else codec.decode(data)

    async def save(self, session: Session, ttl_s: int) -> None:
        self.sessions.put(keys.tag(session.id), codec.encode(session), ttl_s)

    async def delete(self, session_id: str) -> None:
        self.sessions.pop(keys.tag(session_id))

    def _count(self, count: HopCount) -> tuple[int, int]:
        """This hop's number in the phone's window and the window's time left (ms), as in Redis."""
        now, phone = self._monotonic(), keys.tag(count.phone)
        ends, hops = self._hops.get(phone, (0.0, 0))
        if now >= ends:
            ends, hops = now + count.window_ms / 1000, 0
            if len(self._hops) >= self._max_entries:  # drop ended windows before growing further
                self._hops = {k: v for k, v in self._hops.items() if v[0] > now}
        self._hops[phone] = (ends, hops + 1)
        return hops + 1, int((ends - now) * 1000)

    @asynccontextmanager
    async def hold(
        self, session_id: str, count: HopCount | None = None, resume_of: str | None = None
    ) -> AsyncIterator[Held]:
        # resume_of is not read ahead: the resume pointer is in this process, there is no round trip to save.
        hops, left_ms = self._count(count) if count is not None else (0, 0)
        tag = keys.tag(session_id)
        slot = self._locks.get(tag)
        if slot is None:
            slot = self._locks[tag] = _LockSlot()
        slot.users += 1
        try:
            await self._acquire(slot.lock, session_id)
            try:
                held = Held(await self.load(session_id), hops, left_ms)
                yield held
                if held.kept is not None:
                    await self.save(held.kept, held.ttl_s)
            finally:
                slot.lock.release()
        finally:
            slot.users -= 1
            if slot.users == 0:
                del self._locks[tag]

    async def _acquire(self, lock: asyncio.Lock, session_id: str) -> None:
        # Always under a timeout: even an unlocked asyncio.Lock can make us wait
        # (a just-woken waiter goes first) and that waiter then holds it for a hop.
        try:
            async with asyncio.timeout(self._lock_wait_s):
                await lock.acquire()
        except TimeoutError as exc:
            raise SessionLockTimeout(f"session {keys.tag(session_id)} is busy") from exc

    @property
    def lock_count(self) -> int:
        """Locks currently held or awaited (0 when idle: unused locks are not kept)."""
        return len(self._locks)

    async def swap_resume(self, phone: str, session_id: str, ttl_s: int) -> str | None:
        tag = keys.tag(phone)
        previous = self.resumes.get(tag)
        self.resumes.put(tag, codec.encode_id(session_id), ttl_s)
        return None if previous is None else codec.decode_id(previous)

    async def swap_resume_and_load(
        self, phone: str, session_id: str, ttl_s: int, hint: str | None = None
    ) -> tuple[str | None, Session | None]:
        previous = await self.swap_resume(phone, session_id, ttl_s)
        if previous is None or previous == session_id:
            return previous, None
        return previous, await self.load(previous)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self.sessions.clear()
        self.resumes.clear()
        self._hops.clear()
