"""A request body must arrive within BODY_READ_TIMEOUT_S.

Without a bound, a client that sends its headers and then trickles the body a
byte at a time holds a connection and a handler for as long as it likes; a
few hundred of those and the gateway's real callbacks queue behind them. An
Africa's Talking callback is a few hundred bytes and arrives at once.

The middleware runs after authentication (only an authenticated caller gets
this far, the others are refused before their body is read) and reads the
whole body under the deadline. aiohttp caches what it read, so the handler's
own ``request.post()`` or ``request.read()`` returns at once.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from ussd_server.logfields import logfield
from ussd_server.settings import Settings

log = logging.getLogger("enerlectra.http")
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def body_deadline(settings: Settings) -> web.middleware:  # type: ignore[valid-type]
    timeout_s = settings.body_read_timeout_s

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.body_exists:
            try:
                async with asyncio.timeout(timeout_s):
                    # A multipart stream can be parsed only once, so forms are read the way the
                    # handler will ask for them (post() caches the fields, read() the bytes).
                    if request.content_type in FORM_TYPES:
                        await request.post()
                    else:
                        await request.read()
            except TimeoutError:
                log.warning("request timeout on %s: the body took over %.1f s", logfield(request.path, 80), timeout_s)
                raise web.HTTPRequestTimeout(text="request body too slow", headers={"Connection": "close"}) from None
            except UnicodeDecodeError:
                raise web.HTTPBadRequest(text="the form is not UTF-8") from None
        return await handler(request)

    return middleware
