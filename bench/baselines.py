"""The two baseline servers the hop benchmark compares us with, each run as its own process.

``python -m bench.baselines bare --port P``: an aiohttp handler that answers
``CON hello`` without reading the form: the floor of HTTP on this machine.

``python -m bench.baselines json --port P``: ``GET /api/v1/wallet`` answered
with a small JSON body shaped like the API's (``web.json_response``), without
reading the request: the floor of a JSON API on this machine.

``python -m bench.baselines redis --port P --redis-url URL``: the form is
read, the session named by ``sessionId`` is fetched from Redis (msgpack,
~300 bytes, a real session's wire form), its hop count bumped, and it is
stored again with a TTL: one GET and one SET, the least a hop with Redis
sessions can do. The Redis client is set up like ours: one pool per process,
sized above the peak concurrency.

Both run like ``enerlectra serve``: the same event loop, no access log.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgpack
from aiohttp import web
from redis.asyncio import ConnectionPool, Redis

from ussd_server.sessions.model import Session, TextDigest

POOL_SIZE = 256  # ours: REDIS_POOL_SIZE's default
TTL_S = 180
REDIS_CLIENT: web.AppKey[Redis] = web.AppKey("redis", Redis)


def template_session() -> dict[str, Any]:
    """A mid-journey session as our server stores it (at a sell's PIN screen)."""
    reply = "CON Sell 0.1 kWh to Mwila Banda 0977123456 for K0.12. Enter PIN to confirm:\n0 Back 00 Home"
    return Session(
        id="ATUid_0123456789abcdef0123456789abcdef",
        phone="+260955345678",
        service_code="*384*2025#",
        state="sell.pin",
        values={"counterpart": "+260977123456", "counterpart_name": "Mwila Banda", "wh": 100, "price": 120},
        back=["home", "sell.phone", "sell.kwh", "sell.price"],
        last_digest=TextDigest(b"bench")("3*0977123456*0.1*1"),
        last_len=18,
        last_reply=reply,
        hops=5,
        started_ms=1_764_000_000_000,
    ).to_wire()


TEMPLATE = template_session()


async def bare(_request: web.Request) -> web.Response:
    return web.Response(text="CON hello", content_type="text/plain")


# What GET /api/v1/wallet answers for a bench user (the same fields and about the same size).
WALLET = {
    "success": True,
    "data": {
        "money": {"ngwee": 9_999_640, "currency": "ZMW"},
        "energy_wh": 999_800,
        "reserved": {"money": {"ngwee": 0, "currency": "ZMW"}, "energy_wh": 0},
    },
}


async def json_wallet(_request: web.Request) -> web.Response:
    return web.json_response(WALLET)


async def with_redis(request: web.Request) -> web.Response:
    form = await request.post()
    session_id = form.get("sessionId")
    if not isinstance(session_id, str):
        raise web.HTTPBadRequest(text="missing sessionId")
    key = f"bench:ussd:{{{session_id}}}:s"
    client = request.app[REDIS_CLIENT]
    raw = await client.get(key)
    session = msgpack.unpackb(raw, raw=False) if raw else dict(TEMPLATE)
    session["h"] = int(session.get("h", 0)) + 1
    await client.set(key, msgpack.packb(session, use_bin_type=True), ex=TTL_S)
    return web.Response(text="CON hello", content_type="text/plain")


def build(kind: str, redis_url: str | None) -> web.Application:
    app = web.Application()
    if kind == "bare":
        app.router.add_post("/ussd", bare)
        return app
    if kind == "json":
        app.router.add_get("/api/v1/wallet", json_wallet)
        return app
    if not redis_url:
        raise SystemExit("the redis baseline needs --redis-url")

    async def client(app: web.Application) -> AsyncIterator[None]:
        app[REDIS_CLIENT] = Redis.from_pool(ConnectionPool.from_url(redis_url, max_connections=POOL_SIZE))
        await app[REDIS_CLIENT].ping()
        yield
        await app[REDIS_CLIENT].aclose()

    app.cleanup_ctx.append(client)
    app.router.add_post("/ussd", with_redis)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.baselines")
    parser.add_argument("kind", choices=("bare", "json", "redis"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url")
    args = parser.parse_args(argv)
    try:
        import uvloop  # the same loop as enerlectra serve picks when it is installed

        uvloop.install()
    except ImportError:
        pass
    app = build(args.kind, args.redis_url)
    app.router.add_get("/health", bare)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
