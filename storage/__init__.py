"""Storage adapters behind the engine's ports: SQLite (embedded) and PostgreSQL (scale-out)."""

from __future__ import annotations

from engine.clock import Clock, SystemClock
from engine.ports import Store

DEFAULT_MAX_BATCH = 1000


DEFAULT_POOL_SIZE = 10


async def open_store(
    url: str,
    *,
    clock: Clock | None = None,
    max_batch: int = DEFAULT_MAX_BATCH,
    migrate: bool = False,
    pool_size: int = DEFAULT_POOL_SIZE,
) -> Store:
    """Open the store a ``DATABASE_URL`` names: ``sqlite:///path`` or ``postgresql://...``.

    ``pool_size`` bounds a PostgreSQL store's connections: a few per core is
    enough, and several processes must fit in the server's ``max_connections``.
    """
    clock = clock or SystemClock()
    if url.startswith("sqlite:"):
        from storage.sqlite import SqliteStore, sqlite_path

        return await SqliteStore.open(sqlite_path(url), clock=clock, max_batch=max_batch, migrate=migrate)
    if url.startswith(("postgresql:", "postgres:")):
        from storage.postgres import PostgresStore

        return await PostgresStore.open(url, clock=clock, max_batch=max_batch, migrate=migrate, pool_max_size=pool_size)
    raise ValueError(f"unsupported DATABASE_URL scheme: {url.split(':', 1)[0]!r}")
