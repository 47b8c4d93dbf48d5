"""Wire a Platform from Settings: the only place entry points (app, CLI, simulator) open a database."""

from __future__ import annotations

from engine.identity.ports import PinHasher
from engine.kernel.clock import Clock, SystemClock
from engine.kernel.events import EventBus
from engine.payments.ports import ProviderDirectory
from engine.platform import Platform
from engine.uow import UnitOfWork
from storage import open_store
from ussd_server.settings import Settings


async def open_platform(
    settings: Settings,
    *,
    hasher: PinHasher,
    clock: Clock | None = None,
    migrate: bool = False,
    providers: ProviderDirectory | None = None,
    bus: EventBus[UnitOfWork] | None = None,
) -> Platform:
    """The platform on the settings' database.

    ``hasher`` runs PIN KDFs and ``providers`` reaches mobile money (the caller owns and closes both;
    without providers no payment can start). ``bus``: other event handlers than the platform's own
    (the demo history's, without SMS).
    """
    clock = clock or SystemClock()
    database = await open_store(
        settings.database_url,
        clock=clock,
        max_batch=settings.ledger_max_batch,
        migrate=migrate,
        pool_size=settings.database_pool_size,
    )
    platform = Platform(
        database,
        settings.engine_config(),
        hasher,
        clock,
        bus=bus,
        providers=providers,
        payments=settings.payment_config(),
        retries=settings.retry_policy(),
        market=settings.market_config(),
    )
    try:
        await platform.bootstrap()
    except BaseException:
        await database.close()
        raise
    return platform


async def migrate_database(database_url: str) -> list[str]:
    """Bring a database's schema up to date (``enerlectra db migrate``, the simulator's embedded server)."""
    database = await open_store(database_url, migrate=False)
    try:
        return await database.migrate()
    finally:
        await database.close()
