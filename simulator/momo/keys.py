"""The simulator application's state, by typed key."""

from __future__ import annotations

import json
from decimal import Decimal

from aiohttp import web

from simulator.momo.auth import Tokens
from simulator.momo.world import World

WORLD = web.AppKey("momo_world", World)
TOKENS = web.AppKey("momo_tokens", Tokens)


async def read_json(request: web.Request) -> dict[str, object] | None:
    """The request's JSON object, numbers with a fraction read as Decimal (never float); None if it is not one."""
    try:
        data = json.loads(await request.read(), parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def json_response(body: object, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=lambda obj: json.dumps(obj, default=str))
