"""Wire a Platform from Settings: the single place stores are opened for the app and the CLI."""

from __future__ import annotations

from engine.clock import Clock, SystemClock
from engine.platform import Platform
from storage import open_store
from ussd_server.settings import Settings


async def open_platform(settings: Settings, *, clock: Clock | None = None, migrate: bool = False) -> Platform:
    clock = clock or SystemClock()
    store = await open_store(
        settings.database_url,
        clock=clock,
        max_batch=settings.ledger_max_batch,
        migrate=migrate,
        pool_size=settings.database_pool_size,
    )
    platform = Platform(store, settings.engine_config(), clock)
    try:
        await platform.bootstrap()
    except BaseException:
        await store.close()
        raise
    return platform
