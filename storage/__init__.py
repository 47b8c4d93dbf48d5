"""Storage adapters behind the engine's ports: SQLite (embedded), PostgreSQL (scale-out) and an in-memory fake."""

from __future__ import annotations

from engine.kernel.clock import Clock, SystemClock
from engine.kernel.config import EngineConfig
from engine.uow import Database

# The engine's batch limit is declared once, in EngineConfig (LEDGER_MAX_BATCH sets both).
DEFAULT_MAX_BATCH = EngineConfig().max_batch


DEFAULT_POOL_SIZE = 10


async def open_store(
    url: str,
    *,
    clock: Clock | None = None,
    max_batch: int = DEFAULT_MAX_BATCH,
    migrate: bool = False,
    pool_size: int = DEFAULT_POOL_SIZE,
) -> Database:
    """Open the database a ``DATABASE_URL`` names: ``sqlite:///path``, ``postgresql://...`` or ``memory:``.

    ``memory:`` is a fresh in-memory database (for fast service tests; nothing
    is kept); ``memory://name`` is one shared by every store opened with that
    name in this process, which outlives closing them like a file would.

    ``pool_size`` bounds a PostgreSQL store's connections: a few per core is
    enough, and several processes must fit in the server's ``max_connections``.
    """
    clock = clock or SystemClock()
    if url.startswith("sqlite:"):
        from storage.sqlite import SqliteDatabase, sqlite_path

        return await SqliteDatabase.open(sqlite_path(url), clock=clock, max_batch=max_batch, migrate=migrate)
    if url.startswith(("postgresql:", "postgres:")):
        from storage.postgres import PostgresDatabase

        return await PostgresDatabase.open(
            url, clock=clock, max_batch=max_batch, migrate=migrate, pool_max_size=pool_size
        )
    if url.startswith("memory:"):
        from storage.memory import MemoryDatabase

        return MemoryDatabase.open(url, clock=clock, max_batch=max_batch)
    raise ValueError(f"unsupported DATABASE_URL scheme: {url.split(':', 1)[0]!r}")
