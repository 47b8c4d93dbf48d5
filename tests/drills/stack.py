"""The system as an operator runs it: ``enerlectra serve`` processes, a private Redis, a seeded database.

A drill stack is built the way the README says to run the server: ``enerlectra
db migrate`` and ``enerlectra demo seed`` on the database, then one or more
``enerlectra serve`` processes on free local ports, with sessions in a
redis-server of the drill's own, so faults can be injected without touching
the Redis other tests share (processes from tests/support). Callers are
registered and given some energy directly through the engine before the
servers start, and every demo cluster is priced flat at its listed price
(tests/support/flat_prices.py): drills check exact costs, not the price.

Everything a drill starts is stopped when its ``async with`` block ends,
whatever happened inside it: server processes (SIGTERM, then SIGKILL), the
redis-server and its directory. The database belongs to the shared
``database_url`` fixture, which drops it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from engine.identity.model import User
from engine.uow import Database as Store
from storage import open_store
from tests.support.flat_prices import flat_price
from tests.support.phones import unique_phone
from tests.support.ports import free_port
from tests.support.processes import clean_env
from tests.support.redis import ThrowawayRedis, throwaway_redis
from tests.support.servers import HttpService, enerlectra_server, run_cli
from ussd_server.bootstrap import open_platform
from ussd_server.demo import CLUSTERS, DEMO_PIN
from ussd_server.i18n import Catalogs
from ussd_server.kdf_pool import KdfPool
from ussd_server.settings import Settings

PIN = DEMO_PIN
PEPPER = "drill-pepper-0123456789abcdef"
PREFUND_CLUSTER = "cb-kitwe-solar-park"
CLI_TIMEOUT_S = 120.0
# Names the engine accepts (letters and spaces), in the three languages the menus speak.
CALLER_NAMES = ("Mwape Drill", "Chanda Drill", "Bwalya Drill", "Mulenga Drill", "Temwani Drill", "Natasha Drill")
LANGUAGES = ("en", "ny", "bem")


def server_env(database_url: str, redis_url: str) -> dict[str, str]:
    """A clean environment for the CLI and server: nothing leaks in from the test runner's own settings."""
    return clean_env(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "HOST": "127.0.0.1",
            "PIN_KDF_LOG2_N": "10",  # real scrypt, cheaper cost
            "PIN_PEPPER": PEPPER,
            "SMS_BACKEND": "console",
            "LOG_LEVEL": "WARNING",
            "STARTING_CREDIT": "500.00",  # enough for every purchase a drill makes
            # Load drills drive each caller far faster than a person could and far more often than a day's
            # caps allow: the abuse limits have drills of their own, which set them back.
            "HOPS_PER_MINUTE": "100000",
            "PIN_CHECKS_PER_MINUTE": "100000",
            "GIFTS_PER_DAY": "10000",
            "OFFERS_PER_DAY": "10000",
            "LOOKUPS_PER_DAY": "10000",
            "MAX_OPEN_OFFERS_PER_PAIR": "100",
            "SMS_DAILY_CAP": "1000",
        }
    )


@dataclass
class Stack:
    """What a drill works with: the environment, the Redis, the server processes and the callers."""

    env: dict[str, str]
    database_url: str
    redis: ThrowawayRedis
    servers: list[HttpService]
    callers: list[User]
    catalogs: Catalogs = field(default_factory=Catalogs.load)

    @property
    def server(self) -> HttpService:
        return self.servers[0]

    async def open_store(self) -> Store:
        """A store of the test's own on the drill database (the caller closes it)."""
        return await open_store(self.database_url)

    async def cli(self, *args: str) -> tuple[int, str]:
        return await run_cli(self.env, *args, timeout_s=CLI_TIMEOUT_S)

    def logs(self) -> str:
        return "\n".join(f"[server {s.port}]\n{s.log()}" for s in self.servers)


async def register_callers(env: dict[str, str], count: int, energy_wh: int) -> list[User]:
    """Registered users with numbers nobody else uses, each holding ``energy_wh`` bought from a cluster.

    The demo clusters are priced flat at their listed prices first, so a drill's costs are exact.
    """
    kdf_pool = KdfPool(workers=1)  # registration hashes each caller's PIN once
    try:
        platform = await open_platform(Settings.from_env(env), hasher=kdf_pool)
        try:
            for cluster in CLUSTERS:
                await flat_price(platform, cluster.id)
            users = []
            for i in range(count):
                user = await platform.users.register(
                    phone=unique_phone(), name=CALLER_NAMES[i % len(CALLER_NAMES)], language=LANGUAGES[i % 3], pin=PIN
                )
                if energy_wh:
                    await platform.clusters.buy(
                        buyer=user, cluster_id=PREFUND_CLUSTER, wh=energy_wh, operation_id=f"drill-prefund-{user.phone}"
                    )
                users.append(user)
            return users
        finally:
            await platform.close()
    finally:
        kdf_pool.close()


@asynccontextmanager
async def open_stack(
    database_url: str,
    log_dir: Path,
    *,
    callers: int,
    servers: int = 1,
    energy_wh: int = 20_000,
    settings: dict[str, str] | None = None,
) -> AsyncIterator[Stack]:
    """Migrate and seed with the CLI, register callers, start ``servers`` processes; stop everything on exit.

    ``settings`` overrides environment variables of the CLI and the servers (e.g. ``PIN_KDF_LOG2_N``).
    """
    async with throwaway_redis(log_dir=log_dir) as redis, AsyncExitStack() as exits:
        env = {**server_env(database_url, redis.url), **(settings or {})}
        for args in (("db", "migrate"), ("demo", "seed", "--basic")):
            code, output = await run_cli(env, *args, timeout_s=CLI_TIMEOUT_S)
            assert code == 0, f"enerlectra {' '.join(args)} exited {code}:\n{output}"
        users = await register_callers(env, callers, energy_wh)
        processes = []
        for i in range(servers):
            server = enerlectra_server(env, free_port(), log_dir / f"server-{i}.log", name=f"server-{i}")
            exits.push_async_callback(server.stop)
            await server.start()
            processes.append(server)
        yield Stack(env, database_url, redis, processes, users)
