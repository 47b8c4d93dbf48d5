"""The system as an operator runs it: ``enerlectra serve`` processes, a private Redis, a seeded database.

A drill stack is built the way the README says to run the server: ``enerlectra
db migrate`` and ``enerlectra demo seed`` on the database, then one or more
``enerlectra serve`` processes on free local ports, with sessions in a
redis-server of the drill's own (tests/integration/redis_server.py), so faults
can be injected without touching the Redis other tests share. Callers are
registered and given some energy directly through the engine before the
servers start.

Everything a drill starts is stopped when its ``async with`` block ends,
whatever happened inside it: server processes (SIGTERM, then SIGKILL), the
redis-server and its directory. The database belongs to the shared
``database_url`` fixture, which drops it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from engine.model import User
from engine.ports import Store
from storage import open_store
from tests.e2e.phone import unique_phone
from tests.integration.redis_server import ThrowawayRedis, free_port, throwaway_redis
from ussd_server.bootstrap import open_platform
from ussd_server.demo import DEMO_PIN
from ussd_server.i18n import Catalogs
from ussd_server.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
ENERLECTRA = Path(sys.executable).parent / "enerlectra"
PIN = DEMO_PIN
PEPPER = "drill-pepper-0123456789abcdef"
PREFUND_CLUSTER = "cb-kitwe-solar-park"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
CLI_TIMEOUT_S = 120.0
# Names the engine accepts (letters and spaces), in the three languages the menus speak.
CALLER_NAMES = ("Mwape Drill", "Chanda Drill", "Bwalya Drill", "Mulenga Drill", "Temwani Drill", "Natasha Drill")
LANGUAGES = ("en", "ny", "bem")


def server_env(database_url: str, redis_url: str) -> dict[str, str]:
    """A clean environment for the CLI and server: nothing leaks in from the test runner's own settings."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "TMPDIR", "LANG", "LC_ALL")}
    return {
        **keep,
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


async def run_cli(env: dict[str, str], *args: str, timeout_s: float = CLI_TIMEOUT_S) -> tuple[int, str]:
    """Run ``enerlectra ARGS``; returns the exit code and the combined output."""
    process = await asyncio.create_subprocess_exec(
        str(ENERLECTRA),
        *args,
        env=env,
        cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


class ServerProcess:
    """One ``enerlectra serve`` on a fixed local port; its output goes to a log file."""

    def __init__(self, env: dict[str, str], port: int, log_path: Path) -> None:
        self.env = {**env, "PORT": str(port)}
        self.port = port
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def log(self, tail: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:] if self.log_path.exists() else ""

    async def start(self) -> None:
        """Start (or restart, same port) and wait until ``/health`` answers 200."""
        if self.running:
            raise RuntimeError("already running")
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts} ---\n".encode())
            log.flush()
            self.process = await asyncio.create_subprocess_exec(
                str(ENERLECTRA),
                "serve",
                env=self.env,
                cwd=ROOT,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT_S
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while True:
                if self.process.returncode is not None:
                    raise RuntimeError(f"enerlectra serve exited with {self.process.returncode}:\n{self.log()}")
                with suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(f"{self.url}/health") as response:
                        if response.status == 200:
                            return
                if loop.time() > deadline:
                    await self.stop()
                    raise RuntimeError(f"enerlectra serve on port {self.port} not healthy in time:\n{self.log()}")
                await asyncio.sleep(0.05)

    async def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, mid-commit or not."""
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGKILL)
        await process.wait()

    async def stop(self) -> None:
        """A graceful stop (idempotent): SIGTERM, then SIGKILL if it lingers."""
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            async with asyncio.timeout(STOP_TIMEOUT_S):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()


@dataclass
class Stack:
    """What a drill works with: the environment, the Redis, the server processes and the callers."""

    env: dict[str, str]
    database_url: str
    redis: ThrowawayRedis
    servers: list[ServerProcess]
    callers: list[User]
    catalogs: Catalogs = field(default_factory=Catalogs.load)

    @property
    def server(self) -> ServerProcess:
        return self.servers[0]

    async def open_store(self) -> Store:
        """A store of the test's own on the drill database (the caller closes it)."""
        return await open_store(self.database_url)

    async def cli(self, *args: str) -> tuple[int, str]:
        return await run_cli(self.env, *args)

    def logs(self) -> str:
        return "\n".join(f"[server {s.port}]\n{s.log()}" for s in self.servers)


async def register_callers(env: dict[str, str], count: int, energy_wh: int) -> list[User]:
    """Registered users with numbers nobody else uses, each holding ``energy_wh`` bought from a cluster."""
    platform = await open_platform(Settings.from_env(env))
    try:
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
        await platform.store.close()


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
    async with throwaway_redis() as redis, AsyncExitStack() as exits:
        env = {**server_env(database_url, redis.url), **(settings or {})}
        for args in (("db", "migrate"), ("demo", "seed")):
            code, output = await run_cli(env, *args)
            assert code == 0, f"enerlectra {' '.join(args)} exited {code}:\n{output}"
        users = await register_callers(env, callers, energy_wh)
        processes = []
        for i in range(servers):
            server = ServerProcess(env, free_port(), log_dir / f"server-{i}.log")
            exits.push_async_callback(server.stop)
            await server.start()
            processes.append(server)
        yield Stack(env, database_url, redis, processes, users)
