"""The scheduler ahead of the server's clock, for end-to-end tests of things that happen days later.

Voting lasts at least ten minutes (the bylaws' shortest period) and the server's clock is the
real one. A second platform on the server's database with a clock that reads ``seconds`` later
lives through a vote in an instant, so no test waits for one. It may run beside the server's own
scheduler worker: claims are safe on both databases (SQLite serialises them, PostgreSQL skips
rows another worker holds), and every handler decides from state it reads under its locks.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from engine.kernel.clock import MICROS_PER_SECOND, ManualClock
from engine.platform import Platform
from tests.e2e.conftest import World
from ussd_server.bootstrap import open_platform
from ussd_server.kdf_pool import KdfPool


@contextlib.asynccontextmanager
async def scheduler_ahead(world: World, seconds: int) -> AsyncIterator[Platform]:
    """A platform on the server's database whose clock reads ``seconds`` later than the server's."""
    clock = ManualClock(world.platform.clock.now_us() + seconds * MICROS_PER_SECOND)
    kdf = KdfPool(workers=1)
    platform = await open_platform(world.settings, hasher=kdf, clock=clock)
    try:
        yield platform
    finally:
        await platform.close()
        kdf.close()


async def run_due(platform: Platform) -> None:
    """Run every job due on ``platform``'s clock, until none is."""
    while (await platform.scheduler.run_due(limit=100)).claimed:
        pass
