"""Redis for tests: the shared server's URL, and throwaway redis-server processes for faults.

Tests that only need sessions use the shared Redis (``redis_url()``) and
delete the keys they made. Fault tests must never stop that one, so they
start their own, with no persistence, on a free local port::

    async with throwaway_redis() as server:
        store = await RedisSessionStore.open(server.url)
        await server.stop()    # Redis down: connection refused
        await server.start()   # back on the same port, empty
        server.pause()         # Redis hung: accepts TCP, never answers
        server.resume()

The context manager always stops the process, even if the test fails.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

from tests.support.ports import free_port
from tests.support.processes import ChildProcess, clean_env

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
READY_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0


def redis_url() -> str:
    """The shared Redis: ``REDIS_URL`` or the local default (``make services`` makes sure it runs)."""
    return os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL


def redis_server_binary() -> str | None:
    return shutil.which("redis-server")


async def answers_ping(port: int, timeout_s: float = 0.5) -> bool:
    """True if a Redis on 127.0.0.1:port replies +PONG (raw RESP, no client library)."""
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(b"PING\r\n")
                await writer.drain()
                return await reader.readline() == b"+PONG\r\n"
            finally:
                writer.close()
                with suppress(OSError):
                    await writer.wait_closed()
    except (OSError, TimeoutError):
        return False


class ThrowawayRedis:
    """One private redis-server process (no RDB, no AOF) on a fixed local port: its 16 databases are ours."""

    def __init__(self, port: int | None = None, *, log_dir: Path | None = None) -> None:
        binary = redis_server_binary()
        if binary is None:
            raise RuntimeError("redis-server is not on PATH (make services installs it)")
        self.port = port or free_port()
        # redis-server writes nothing to its directory with --save "" and no AOF; its log goes to ours.
        self._dir = tempfile.TemporaryDirectory(prefix="enerlectra-redis-")
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        argv += ["--dir", self._dir.name]
        log_path = (log_dir or Path(self._dir.name)) / f"redis-{self.port}.log"
        self.process = ChildProcess("redis-server", argv, clean_env(), log_path)
        self._paused = False

    @property
    def url(self) -> str:
        return self.database_url(0)

    def database_url(self, db: int) -> str:
        """One of the server's 16 databases: benchmark servers each get their own."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.running

    async def start(self) -> None:
        """Start (or restart) the server on self.port and wait until it answers PING."""
        self.process.spawn()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT_S
        while not await answers_ping(self.port):
            if not self.process.running or loop.time() > deadline:
                await self.stop()
                raise RuntimeError(f"redis-server on port {self.port} did not start:\n{self.process.log(2000)}")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        """Stop the server (idempotent): SIGTERM, then SIGKILL if it lingers."""
        self._paused = False  # stop() wakes a frozen process before it asks it to quit
        await self.process.stop(STOP_TIMEOUT_S)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): the kernel still accepts connections, nothing replies."""
        self.process.send_signal(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        if self._paused and self.process.running:
            self.process.send_signal(signal.SIGCONT)
        self._paused = False

    async def close(self) -> None:
        await self.stop()
        self._dir.cleanup()


@asynccontextmanager
async def throwaway_redis(port: int | None = None, *, log_dir: Path | None = None) -> AsyncIterator[ThrowawayRedis]:
    """A running private redis-server, stopped and cleaned up on exit whatever happens."""
    server = ThrowawayRedis(port, log_dir=log_dir)
    try:
        await server.start()
        yield server
    finally:
        await server.close()
