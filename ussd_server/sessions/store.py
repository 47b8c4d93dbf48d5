"""The session store port: what a USSD hop needs from Redis or the in-process store.

A leaf module (imports only the model) so the server, both stores and tests can
depend on it without cycles.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from ussd_server.sessions.model import Session


class SessionStoreUnavailable(Exception):
    """The backing store cannot serve this hop right now; answer "service busy".

    Raised promptly (well within a second when Redis is down or hung) so the
    gateway still gets a reply inside its deadline. Always chained ``from`` the
    underlying error.
    """


class SessionLockTimeout(SessionStoreUnavailable):
    """Another hop of the same session held the lock for longer than the bounded wait."""


class SessionStore(Protocol):
    """Per-dial session state with TTLs, a per-session hop lock and resume snapshots.

    Every method may raise :class:`SessionStoreUnavailable`; none raises on bad
    stored data (undecodable entries read as missing).
    """

    async def load(self, session_id: str) -> Session | None:
        """The live session, or None if absent, expired or undecodable."""
        ...

    async def save(self, session: Session, ttl_s: int) -> None:
        """Store the session under ``session.id``; every save restarts its TTL."""
        ...

    async def delete(self, session_id: str) -> None: ...

    def lock(self, session_id: str) -> AbstractAsyncContextManager[None]:
        """Serialise hops of one session: a retried hop waits, then sees the stored reply.

        Released on exit, including on exceptions. Raises
        :class:`SessionLockTimeout` if the lock cannot be taken in bounded time.
        """
        ...

    async def save_resume(self, phone: str, session: Session, ttl_s: int) -> None:
        """Keep a snapshot of an interrupted session so the phone can pick it up again."""
        ...

    async def load_resume(self, phone: str) -> Session | None: ...

    async def drop_resume(self, phone: str) -> None: ...

    async def ping(self) -> bool:
        """True if the store answers; never raises (for health checks)."""
        ...

    async def close(self) -> None: ...
