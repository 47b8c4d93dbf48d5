"""The aiohttp application: one factory, every resource opened in cleanup_ctx."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from menus import MAIN_TREE
from ussd_server.appkeys import OUTBOX_WORKER, PLATFORM, SESSIONS, SETTINGS, SMS_BACKEND, USSD
from ussd_server.auth import gateway_auth
from ussd_server.bootstrap import open_platform
from ussd_server.gateway import UssdService
from ussd_server.i18n import Catalogs
from ussd_server.menu.actions import registry
from ussd_server.menu.runtime import MenuRuntime
from ussd_server.menu.tree import load_tree
from ussd_server.routes import setup_routes
from ussd_server.sessions.memory import MemorySessionStore
from ussd_server.sessions.redis_store import RedisSessionStore
from ussd_server.sessions.store import SessionStore
from ussd_server.settings import Settings
from ussd_server.sms.backends import build_backend
from ussd_server.sms.worker import OutboxWorker

log = logging.getLogger("enerlectra")

BODY_LIMIT = 8 * 1024  # an AT callback is a few hundred bytes


def build_runtime() -> tuple[MenuRuntime, Catalogs]:
    """Load and check the menu and catalogs (raises MenuError naming every problem)."""
    catalogs = Catalogs.load()
    return MenuRuntime(load_tree(MAIN_TREE, catalogs, registry), catalogs, registry), catalogs


async def open_sessions(settings: Settings) -> SessionStore:
    if settings.redis_url:
        return await RedisSessionStore.open(settings.redis_url, pool_size=settings.redis_pool_size)
    return MemorySessionStore()


def create_app(settings: Settings) -> web.Application:
    runtime, catalogs = build_runtime()  # a broken menu stops start-up, before anything opens
    app = web.Application(client_max_size=BODY_LIMIT, middlewares=[gateway_auth(settings)])
    app[SETTINGS] = settings

    async def resources(app: web.Application) -> AsyncIterator[None]:
        platform = await open_platform(settings)
        try:
            sessions = await open_sessions(settings)
        except BaseException:
            await platform.store.close()
            raise
        backend = build_backend(settings)
        worker = OutboxWorker(platform.store, backend, catalogs, settings, platform.clock)
        app[PLATFORM] = platform
        app[SESSIONS] = sessions
        app[SMS_BACKEND] = backend
        app[OUTBOX_WORKER] = worker
        app[USSD] = UssdService(
            platform=platform,
            sessions=sessions,
            runtime=runtime,
            catalogs=catalogs,
            settings=settings,
            on_sms_queued=worker.wake,
        )
        stop = asyncio.Event()
        delivering = asyncio.create_task(worker.run_forever(stop), name="outbox-worker")
        yield
        stop.set()
        worker.wake()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(delivering, timeout=settings.sms_timeout_s + 5)
        await backend.close()
        await sessions.close()
        await platform.store.close()

    app.cleanup_ctx.append(resources)
    setup_routes(app)
    return app


def serve(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("transitions").setLevel(logging.WARNING)
    try:
        import uvloop  # optional: faster event loop when installed

        uvloop.install()
    except ImportError:
        pass
    log.info(
        "starting on %s:%s (%s, %s)", settings.host, settings.port, settings.env, settings.database_url.split(":")[0]
    )
    web.run_app(create_app(settings), host=settings.host, port=settings.port, access_log=None, print=None)
