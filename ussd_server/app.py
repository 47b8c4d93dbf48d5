"""The aiohttp application: one factory, resources opened in cleanup_ctx."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from engine.platform import Platform
from ussd_server.bootstrap import open_platform
from ussd_server.settings import Settings

log = logging.getLogger("enerlectra")

PLATFORM = web.AppKey("platform", Platform)
SETTINGS = web.AppKey("settings", Settings)


async def health(request: web.Request) -> web.Response:
    platform = request.app[PLATFORM]
    checks: dict[str, str] = {}
    try:
        await platform.store.chain_head()
        checks["database"] = "ok"
    except Exception as exc:  # reported, not hidden: /health is for operators
        log.warning("health: database check failed: %s", type(exc).__name__)
        checks["database"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    body = {"status": "ok" if ok else "degraded", "backend": platform.store.backend, **checks}
    return web.json_response(body, status=200 if ok else 503)


def create_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=16 * 1024)
    app[SETTINGS] = settings

    async def platform_ctx(app: web.Application) -> AsyncIterator[None]:
        platform = await open_platform(settings)
        app[PLATFORM] = platform
        yield
        await platform.store.close()

    app.cleanup_ctx.append(platform_ctx)
    app.router.add_get("/health", health)
    return app


def serve(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("transitions").setLevel(logging.WARNING)
    log.info(
        "starting on %s:%s (%s, %s)", settings.host, settings.port, settings.env, settings.database_url.split(":")[0]
    )
    web.run_app(create_app(settings), host=settings.host, port=settings.port, access_log=None, print=None)
