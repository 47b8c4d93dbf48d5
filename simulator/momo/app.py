"""``create_momo_sim``: one aiohttp application serving both providers and the ``/_sim`` control API."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from simulator.momo import airtel, control, mtn
from simulator.momo.auth import Tokens
from simulator.momo.config import MomoSimConfig
from simulator.momo.keys import TOKENS, WORLD
from simulator.momo.world import World


def create_momo_sim(config: MomoSimConfig) -> web.Application:
    """MTN MoMo and Airtel Money on one base URL, with ``/_sim/`` to steer them.

    Callbacks go out on the application's own client session, opened when the
    app starts and closed when it stops; stopping also releases every held
    ("hang") response at once.
    """
    app = web.Application(client_max_size=64 * 1024)
    world = World(config)
    app[WORLD] = world
    app[TOKENS] = Tokens()

    async def resources(app: web.Application) -> AsyncIterator[None]:
        await world.start()
        yield
        await world.close()

    async def release_held(app: web.Application) -> None:
        world.release.set()

    app.cleanup_ctx.append(resources)
    app.on_shutdown.append(release_held)
    mtn.add_routes(app)
    airtel.add_routes(app)
    control.add_routes(app)
    return app
