"""The API as an aiohttp sub-application, mounted at ``/api/v1`` by ``ussd_server.app.create_app``.

Its error and CORS middlewares sit on the main app (:func:`api_middlewares`),
restricted to the API's paths: there they also see the body limits the main
app enforces before a request reaches the sub-application, so even those
answers are envelopes. Everything else comes from the main app: the
platform, the settings, the rate limiter (``request.config_dict``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from ussd_server.api.cors import api_cors
from ussd_server.api.docs import add_docs
from ussd_server.api.errors import api_errors
from ussd_server.api.openapi import served
from ussd_server.api.routes import PREFIX, ROUTES
from ussd_server.api.routing import handler_for
from ussd_server.appkeys import PLATFORM
from ussd_server.settings import Settings

log = logging.getLogger("enerlectra.api")
SWEEP_EVERY_S = 600.0  # expired tokens and idempotency records: nothing reads them, they only take room


def api_middlewares(settings: Settings) -> list[web.middleware]:  # type: ignore[valid-type]
    """For the main app, outermost: CORS headers on every API answer, and every API answer an envelope."""
    return [api_cors(PREFIX, settings.api_cors_origins), api_errors(PREFIX)]


async def _expect(request: web.Request) -> None:
    """``Expect: 100-continue`` is honoured; any other expectation is ignored, as RFC 9110 allows.

    aiohttp's default answers a bare 417 for those, outside the middlewares, so
    it would be the one answer of the API that is not an envelope.
    """
    if request.version == (1, 1) and request.headers.get("Expect", "").strip().lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")


def create_api_app() -> web.Application:
    api = web.Application()
    for route in ROUTES:
        api.router.add_route(route.method, route.path, handler_for(route), expect_handler=_expect)
    add_docs(api, PREFIX, served())
    return api


def mount_api(app: web.Application) -> None:
    """Add the API to the main app, with its sweeper (after the main app's resources, so it sees the platform)."""
    app.add_subapp(PREFIX, create_api_app())

    async def sweeper(app: web.Application) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(_sweep(app, stop), name="api-sweeper")
        yield
        stop.set()
        await task

    app.cleanup_ctx.append(sweeper)


async def _sweep(app: web.Application, stop: asyncio.Event) -> None:
    """Forget expired sign-in tokens and idempotency records (each process does it; deleting twice is harmless)."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=SWEEP_EVERY_S)
        if stop.is_set():
            return
        try:
            platform = app[PLATFORM]
            forgotten = await platform.access.forget_expired_tokens() + await platform.idempotency.forget_expired()
            if forgotten:
                log.info("api: forgot %d expired tokens and idempotency records", forgotten)
        except Exception:  # the next sweep tries again; this must not stop the server
            log.exception("api: sweep failed")
