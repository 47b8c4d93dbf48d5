"""A throwaway redis-server for fault tests: start, stop, hang and restart it on one port.

Fault tests must never stop the shared Redis other tests use, so they start
their own with no persistence on a free local port::

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
import shutil
import signal
import socket
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

READY_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0


def redis_server_binary() -> str | None:
    return shutil.which("redis-server")


def free_port() -> int:
    # The port is free when we ask; a tiny race with other processes is accepted in tests.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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
    """One private redis-server process (no RDB, no AOF) on a fixed local port."""

    def __init__(self, port: int | None = None) -> None:
        binary = redis_server_binary()
        if binary is None:
            raise RuntimeError("redis-server is not on PATH")
        self.binary = binary
        self.port = port or free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="enerlectra-redis-")
        self._process: asyncio.subprocess.Process | None = None
        self._paused = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return Path(self._dir.name) / "redis.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        """Start (or restart) the server on self.port and wait until it answers PING."""
        if self.running:
            raise RuntimeError("already running")
        # redis-server writes nothing else to its directory with --save "" and no AOF.
        self._process = await asyncio.create_subprocess_exec(
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self._dir.name,
            "--logfile",
            str(self.log_path),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT_S
        while not await answers_ping(self.port):
            if self._process.returncode is not None or loop.time() > deadline:
                log = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
                await self.stop()
                raise RuntimeError(f"redis-server on port {self.port} did not start:\n{log[-2000:]}")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        """Stop the server (idempotent): SIGTERM, then SIGKILL if it lingers."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        if self._paused:
            process.send_signal(signal.SIGCONT)  # a stopped process never acts on SIGTERM
            self._paused = False
        process.terminate()
        try:
            async with asyncio.timeout(STOP_TIMEOUT_S):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): the kernel still accepts connections, nothing replies."""
        if self._process is None:
            raise RuntimeError("not running")
        self._process.send_signal(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        if self._process is not None and self._paused:
            self._process.send_signal(signal.SIGCONT)
            self._paused = False

    async def close(self) -> None:
        await self.stop()
        self._dir.cleanup()


@asynccontextmanager
async def throwaway_redis(port: int | None = None) -> AsyncIterator[ThrowawayRedis]:
    """A running private redis-server, stopped and cleaned up on exit whatever happens."""
    server = ThrowawayRedis(port)
    try:
        await server.start()
        yield server
    finally:
        await server.close()
