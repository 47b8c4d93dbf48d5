"""Server processes as an operator runs them: the ``enerlectra`` CLI and ``enerlectra serve``.

``HttpService`` is any process serving HTTP on a local port with a
``GET /health`` that answers 200 once it is ready (our server, and the
benchmark's baselines); ``enerlectra_server`` makes one that runs
``enerlectra serve`` with a given environment. A service can be stopped,
killed and started again on the same port; stopping is idempotent, so a
``finally`` or an exit stack may always call it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import aiohttp

from tests.support.processes import REPO, ChildProcess

# The console script `pip install -e .` puts next to this interpreter, as in `make run`.
ENERLECTRA = Path(sys.executable).parent / "enerlectra"
READY_TIMEOUT_S = 60.0
CLI_TIMEOUT_S = 300.0
POLL_S = 0.05


class HttpService:
    """A process serving HTTP on 127.0.0.1:``port``; ``start`` returns once ``/health`` answers 200."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], port: int, log_path: Path) -> None:
        self.port = port
        self.process = ChildProcess(name, argv, env, log_path)

    @property
    def url(self) -> str:
        """The origin, e.g. ``http://127.0.0.1:8123`` (``/ussd`` is on it)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.running

    def log(self, tail: int = 4000) -> str:
        return self.process.log(tail)

    async def start(self, ready_timeout_s: float = READY_TIMEOUT_S) -> None:
        """Start (or restart, same port) and wait until ``/health`` answers 200; fails with the log."""
        self.process.spawn()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ready_timeout_s
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while True:
                if not self.process.running:
                    code = self.process.returncode
                    raise RuntimeError(f"{self.process.name} exited with {code}:\n{self.log()}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(f"{self.url}/health") as response:
                        if response.status == 200:
                            return
                if loop.time() > deadline:
                    await self.stop()
                    raise RuntimeError(f"{self.process.name} on port {self.port} not healthy in time:\n{self.log()}")
                await asyncio.sleep(POLL_S)

    async def stop(self) -> None:
        """A graceful stop (idempotent): SIGTERM, then SIGKILL if it lingers."""
        await self.process.stop()

    async def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, mid-commit or not."""
        await self.process.kill()


def enerlectra_server(env: Mapping[str, str], port: int, log_path: Path, name: str = "enerlectra-serve") -> HttpService:
    """``enerlectra serve`` on 127.0.0.1:``port`` with exactly ``env`` (plus HOST and PORT); not started yet."""
    return HttpService(
        name, [str(ENERLECTRA), "serve"], {**env, "HOST": "127.0.0.1", "PORT": str(port)}, port, log_path
    )


async def run_cli(env: Mapping[str, str], *args: str, timeout_s: float = CLI_TIMEOUT_S) -> tuple[int, str]:
    """Run ``enerlectra ARGS`` with exactly ``env``; the exit code and the combined output."""
    process = await asyncio.create_subprocess_exec(
        str(ENERLECTRA),
        *args,
        env=dict(env),
        cwd=REPO,
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
