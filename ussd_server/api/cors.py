"""CORS for an allow-list of origins (``API_CORS_ORIGINS``), as a small middleware.

Why not aiohttp-cors: it is not among our dependencies (it would be a new
pinned package), it needs every route registered with it one by one, and its
own preflight answers would bypass the error middleware's envelope. What we
need is small: no cookies (credentials are bearer tokens in a header), so no
``Allow-Credentials``; an exact origin match; a preflight answered for any
path under the API.

An origin not on the list gets no CORS headers at all (the browser then
refuses to hand the response to the page); the request itself is still served
as for any other client, since CORS protects browsers' users, not the server.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web
from aiohttp.typedefs import Handler

ALLOWED_METHODS = "GET, POST, PATCH, DELETE, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type, Idempotency-Key"
EXPOSED_HEADERS = "Retry-After, Idempotent-Replayed"
MAX_AGE_S = "600"


def api_cors(prefix: str, origins: Iterable[str]) -> web.middleware:  # type: ignore[valid-type]
    allowed = frozenset(o.rstrip("/") for o in origins)
    under = prefix.rstrip("/")

    def headers(origin: str) -> dict[str, str]:
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Expose-Headers": EXPOSED_HEADERS,
            "Vary": "Origin",
        }

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        path = request.path
        if origin is None or not (path == under or path.startswith(under + "/")):
            return await handler(request)
        if origin not in allowed:
            return await handler(request)
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            return web.Response(
                status=204,
                headers={
                    **headers(origin),
                    "Access-Control-Allow-Methods": ALLOWED_METHODS,
                    "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                    "Access-Control-Max-Age": MAX_AGE_S,
                },
            )
        response = await handler(request)
        response.headers.update(headers(origin))
        return response

    return middleware
