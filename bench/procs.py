"""Starting and always stopping what the hop benchmark runs, and reading the CPU they use.

Processes, redis-server and throwaway databases come from tests/support, the
same ones the drills use: each process has its own session (so a Ctrl-C
reaches only the benchmark, which then stops them in order) and a
parent-death signal (so even a benchmark killed with SIGKILL leaves none
behind). Everything listens on 127.0.0.1 only. Each start and each stop is
bounded in time. Failures to start become ``BenchError`` with the log.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from pathlib import Path

from tests.support.ports import free_port
from tests.support.postgres import throwaway_database
from tests.support.processes import clean_env
from tests.support.redis import ThrowawayRedis
from tests.support.servers import HttpService, enerlectra_server, run_cli

CLI_TIMEOUT_S = 300.0
_CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """Something the benchmark needs failed (a server that does not start, a ledger that does not verify)."""


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


@contextlib.contextmanager
def _as_bench_error() -> Iterator[None]:
    """A service that would not start ends the benchmark like any other failure: with its log, no traceback."""
    try:
        yield
    except BenchError:
        raise
    except RuntimeError as exc:
        raise BenchError(str(exc)) from exc


@contextlib.asynccontextmanager
async def running(service: HttpService) -> AsyncIterator[HttpService]:
    """``service`` started (healthy) for the block, stopped after it whatever happens."""
    try:
        with _as_bench_error():
            await service.start()
        yield service
    finally:
        await service.stop()


@contextlib.asynccontextmanager
async def redis_server(log_dir: Path) -> AsyncIterator[ThrowawayRedis]:
    """A throwaway redis-server (no persistence) on a free port: its 16 databases are ours alone."""
    with _as_bench_error():
        redis = ThrowawayRedis(log_dir=log_dir)
    try:
        with _as_bench_error():
            await redis.start()
        yield redis
    finally:
        await redis.close()


@contextlib.asynccontextmanager
async def server(
    name: str,
    log_dir: Path,
    *,
    database_url: str,
    redis_url: str,
    pepper: str,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
    tree: Path | None = None,
) -> AsyncIterator[tuple[HttpService, str]]:
    """``enerlectra serve`` with Redis sessions; yields the service and its /ussd URL.

    ``env`` adds or overrides settings (an A/B variant); ``tree`` serves the code
    of another checkout of the project with this interpreter and its packages.
    """
    settings = clean_env(
        {
            "ENERLECTRA_ENV": "dev",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "WEB_WORKERS": str(workers),
            "PIN_PEPPER": pepper,
            "SMS_BACKEND": "console",
            "LOG_LEVEL": "INFO",  # the default: one structured line per hop, as in production
            **(env or {}),
        }
    )
    log_path, port = log_dir / f"{name}.log", free_port()
    if tree is None:
        service = enerlectra_server(settings, port, log_path, name)
    else:
        # -P: the working directory (this checkout) is not put first on sys.path; the editable
        # install's finder comes after sys.path, so PYTHONPATH's tree is what gets imported.
        argv = [sys.executable, "-P", "-m", "ussd_server.cli", "serve"]
        settings |= {"PYTHONPATH": str(tree), "HOST": "127.0.0.1", "PORT": str(port)}
        service = HttpService(name, argv, settings, port, log_path)
    async with running(service) as started:
        yield started, f"{started.url}/ussd"


@contextlib.asynccontextmanager
async def baseline(kind: str, log_dir: Path, *, redis_url: str) -> AsyncIterator[tuple[HttpService, str]]:
    port = free_port()
    argv = [sys.executable, "-m", "bench.baselines", kind, "--port", str(port), "--redis-url", redis_url]
    name = f"baseline-{kind}"
    async with running(HttpService(name, argv, clean_env(), port, log_dir / f"{name}.log")) as service:
        yield service, f"{service.url}/ussd"


async def cli(database_url: str, pepper: str, *args: str) -> str:
    """Run ``enerlectra ARGS`` against a database; its output, or BenchError with it."""
    env = clean_env({"ENERLECTRA_ENV": "dev", "DATABASE_URL": database_url, "PIN_PEPPER": pepper})
    try:
        code, output = await run_cli(env, *args, timeout_s=CLI_TIMEOUT_S)
    except TimeoutError as exc:
        raise BenchError(f"enerlectra {' '.join(args)} took over {CLI_TIMEOUT_S:.0f} s") from exc
    if code != 0:
        raise BenchError(f"enerlectra {' '.join(args)} failed ({code}):\n{output.strip()}")
    return output.strip()


@contextlib.asynccontextmanager
async def postgres_database(label: str) -> AsyncIterator[str]:
    """A throwaway PostgreSQL database, dropped at the end whatever happens."""
    async with throwaway_database(f"hops_{label}") as url:
        yield url
