"""Starting and always stopping what the hop benchmark runs: servers, redis-server, throwaway databases.

Every process gets its own session (so a Ctrl-C reaches only the benchmark,
which then stops them in order) and a parent-death signal (so even a
benchmark killed with SIGKILL leaves none behind). Everything listens on
127.0.0.1 only. Each start and each stop is bounded in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import redis

from bench.ledger import admin_execute, postgres_admin_url, with_database

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
CLI_TIMEOUT_S = 300.0
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PR_SET_PDEATHSIG = 1
# Passed through from the caller's environment; every setting the server reads is set explicitly instead.
_KEEP_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH")


class BenchError(RuntimeError):
    """Something the benchmark needs failed (a server that does not start, a ledger that does not verify)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _load_libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return None


# Loaded here, not in the child: between fork and exec only the prctl call itself runs.
_LIBC = _load_libc()


def _die_with_parent() -> None:
    # Linux: the kernel sends SIGTERM to this child when the benchmark dies, however it dies.
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def base_env(**settings: str) -> dict[str, str]:
    env = {k: os.environ[k] for k in _KEEP_ENV if k in os.environ}
    return env | settings


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU of ``pids`` and all their descendants (what has exited counts no more)."""
    return sum(cpu_times(pids))


def cpu_times(pids: Iterable[int]) -> tuple[float, float]:
    """(user, system) CPU seconds of ``pids`` and all their descendants."""
    parents: dict[int, int] = {}
    times: dict[int, tuple[float, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) / _CLK_TCK, int(fields[12]) / _CLK_TCK)
    tree, frontier = set(pids), list(pids)
    while frontier:
        current = frontier.pop()
        for child, parent in parents.items():
            if parent == current and child not in tree:
                tree.add(child)
                frontier.append(child)
    found = [times[p] for p in tree if p in times]
    return sum(t[0] for t in found), sum(t[1] for t in found)


def host_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return float(sum(values) - idle), float(sum(values))


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        """SIGTERM (a multi-process server forwards it to its workers), then SIGKILL the whole group.

        Synchronous on purpose: it runs in cleanup, also while the benchmark is
        being cancelled, and nothing else needs the loop then.
        """
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=STOP_TIMEOUT_S)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # its own session: the group is it and its workers
        if self.alive():
            self.popen.kill()
        self.popen.wait(timeout=STOP_TIMEOUT_S)


def spawn(name: str, argv: Sequence[str], env: Mapping[str, str], log_dir: Path) -> Proc:
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    return Proc(name, popen, log_path)


async def wait_http(proc: Proc, url: str) -> None:
    """Until ``url`` answers 200, or fail with the process's log."""
    deadline = time.monotonic() + START_TIMEOUT_S
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while time.monotonic() < deadline:
            if not proc.alive():
                raise BenchError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise BenchError(f"{proc.name} did not answer {url} within {START_TIMEOUT_S:.0f} s:\n{proc.tail()}")


async def wait_redis(proc: Proc, port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1, socket_timeout=1)
    try:
        while time.monotonic() < deadline:
            if not proc.alive():
                raise BenchError(f"redis-server exited with {proc.popen.returncode}:\n{proc.tail()}")
            with contextlib.suppress(redis.RedisError):
                if client.ping():
                    return
            await asyncio.sleep(0.05)
    finally:
        client.close()
    raise BenchError(f"redis-server did not answer on port {port}:\n{proc.tail()}")


@contextlib.asynccontextmanager
async def running(proc: Proc) -> AsyncIterator[Proc]:
    try:
        yield proc
    finally:
        proc.stop()


@contextlib.asynccontextmanager
async def redis_server(log_dir: Path) -> AsyncIterator[tuple[Proc, int]]:
    """A throwaway redis-server (no persistence) on a free port: its 16 databases are ours alone."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise BenchError("redis-server is not installed (make services installs it)")
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    async with running(spawn("redis-server", argv, base_env(), log_dir)) as proc:
        await wait_redis(proc, port)
        yield proc, port


@contextlib.asynccontextmanager
async def server(
    name: str, log_dir: Path, *, database_url: str, redis_url: str, pepper: str, workers: int = 1
) -> AsyncIterator[tuple[Proc, str]]:
    """``enerlectra serve`` with Redis sessions; yields the process and its /ussd URL."""
    port = free_port()
    env = base_env(
        ENERLECTRA_ENV="dev",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        HOST="127.0.0.1",
        PORT=str(port),
        WEB_WORKERS=str(workers),
        PIN_PEPPER=pepper,
        SMS_BACKEND="console",
        LOG_LEVEL="INFO",  # the default: one structured line per hop, as in production
    )
    argv = [sys.executable, "-m", "ussd_server.cli", "serve"]
    async with running(spawn(name, argv, env, log_dir)) as proc:
        await wait_http(proc, f"http://127.0.0.1:{port}/health")
        yield proc, f"http://127.0.0.1:{port}/ussd"


@contextlib.asynccontextmanager
async def baseline(kind: str, log_dir: Path, *, redis_url: str) -> AsyncIterator[tuple[Proc, str]]:
    port = free_port()
    argv = [sys.executable, "-m", "bench.baselines", kind, "--port", str(port), "--redis-url", redis_url]
    async with running(spawn(f"baseline-{kind}", argv, base_env(), log_dir)) as proc:
        await wait_http(proc, f"http://127.0.0.1:{port}/health")
        yield proc, f"http://127.0.0.1:{port}/ussd"


def cli(database_url: str, pepper: str, *args: str) -> str:
    """Run ``enerlectra ARGS`` against a database; its output, or BenchError with it."""
    env = base_env(ENERLECTRA_ENV="dev", DATABASE_URL=database_url, PIN_PEPPER=pepper)
    argv = [sys.executable, "-m", "ussd_server.cli", *args]
    try:
        done = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"enerlectra {' '.join(args)} took over {CLI_TIMEOUT_S:.0f} s") from exc
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        raise BenchError(f"enerlectra {' '.join(args)} failed ({done.returncode}):\n{output}")
    return output


@contextlib.asynccontextmanager
async def postgres_database(label: str) -> AsyncIterator[str]:
    """A throwaway PostgreSQL database, dropped at the end whatever happens."""
    admin_url = postgres_admin_url()
    name = f"enerlectra_hops_{label}_{secrets.token_hex(4)}"
    await admin_execute(admin_url, f'CREATE DATABASE "{name}"')
    try:
        yield with_database(admin_url, name)
    finally:
        await admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
