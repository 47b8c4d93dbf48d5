"""Where a server's CPU goes under load: py-spy samples the running server while a phase runs.

py-spy reads the process from outside (no code change, all threads, C calls
included) and, without ``--idle``, drops samples of threads that wait (the
event loop in epoll, idle executor threads), so the shares are of CPU use.
Each sample is charged to the innermost frame that belongs to a known
component: a sample inside redis-py's parser counts for redis-py even when
our code called it, one inside a dataclass' generated ``__init__`` counts for
whoever called that.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from bench.procs import BenchError

if TYPE_CHECKING:
    from bench.hops import Phase

RATE_HZ = 250
TOP = 15

# (component, substrings of "function (path:line)"), innermost match wins; first listed wins on a tie.
COMPONENTS = (
    ("PIN KDF (scrypt, executor threads)", ("engine/identity/pins.py", "ussd_server/kdf_pool.py")),
    ("redis-py client", ("/redis/",)),
    ("asyncpg driver", ("/asyncpg/",)),
    ("aiohttp (HTTP server, form parsing)", ("/aiohttp/", "/multidict/", "/yarl/")),
    ("logging (one line per hop)", ("/logging/",)),
    ("transitions (menu machine)", ("/transitions/",)),
    ("phonenumbers (parse the caller)", ("/phonenumbers/",)),
    ("msgpack (session codec)", ("/msgpack/", "sessions/codec.py")),
    ("SQLite adapter + sqlite3 C calls", ("storage/sqlite.py",)),
    ("PostgreSQL adapter", ("storage/postgres.py",)),
    (
        "storage repositories (SQL, rows)",
        ("storage/repositories/", "storage/dialect.py", "storage/columns.py", "storage/tables.py"),
    ),
    ("storage (ledger write path, other)", ("/storage/",)),
    ("ledger rules + hash chain", ("engine/ledger/",)),
    ("engine services", ("/engine/",)),
    ("session store (Redis adapter, lock)", ("ussd_server/sessions/",)),
    ("menu features (actions, conditions)", ("ussd_server/menu/features/",)),
    ("menu runtime + render", ("ussd_server/menu/", "ussd_server/i18n.py", "ussd_server/gsm7.py")),
    ("REST API (routing, models)", ("ussd_server/api/", "/pydantic/", "/pydantic_core/")),
    (
        "gateway (hop orchestration)",
        (
            "ussd_server/gateway.py",
            "ussd_server/routes.py",
            "ussd_server/phones.py",
            "ussd_server/auth.py",
            "ussd_server/body_deadline.py",
            "ussd_server/metrics.py",
            "ussd_server/rate_limits.py",
        ),
    ),
    ("asyncio event loop + sockets", ("/asyncio/", "selectors.py", "socket.py", "ssl.py")),
    ("threads / executor hand-off", ("threading.py", "concurrent/futures")),
)
OTHER = "other (stdlib, interpreter)"


def component(frame: str) -> str | None:
    for name, needles in COMPONENTS:
        if any(n in frame for n in needles):
            return name
    return None


def attribute(raw: str) -> tuple[Counter[str], Counter[str], int]:
    """Collapsed stacks -> (samples per component, samples per leaf function, total samples)."""
    by_component: Counter[str] = Counter()
    by_leaf: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        by_leaf[_short(frames[-1])] += n
        for frame in reversed(frames):
            found = component(frame)
            if found is not None:
                by_component[found] += n
                break
        else:
            by_component[OTHER] += n
    return by_component, by_leaf, total


def _short(frame: str) -> str:
    """``f (/long/path/site-packages/redis/asyncio/connection.py:123)`` -> ``f (redis/asyncio/connection.py:123)``."""
    name, _, where = frame.partition(" (")
    for marker in ("site-packages/", "/work/main/", "/lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where}"


def py_spy() -> str:
    binary = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(binary).exists():
        raise BenchError("py-spy is not installed (make install-dev installs it)")
    return binary


async def profile_server(phase: Phase, seconds: float, work: Path) -> str:
    """Run ``phase`` while py-spy samples its server for ``seconds`` of its window; a readable breakdown."""
    out = work / f"profile-{phase.key}.txt"
    argv = [
        py_spy(), "record", "--pid", str(phase.server_pid), "--duration", str(round(seconds)), "--rate", str(RATE_HZ),
        "--format", "raw", "--full-filenames", "--nonblocking", "--subprocesses", "--output", str(out),
    ]  # fmt: skip
    spies: list[subprocess.Popen[bytes]] = []

    def window(opened: bool) -> None:
        if opened:  # after the ramp: the profile sees the steady state only
            spies.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))

    try:
        result = await phase.run(seconds + 1, on_window=window)  # py-spy needs a moment to attach
        if not spies:
            raise BenchError("py-spy never started")
        _, err = await asyncio.to_thread(spies[0].communicate, timeout=seconds + 30)
    finally:
        for spy in spies:
            if spy.poll() is None:
                spy.kill()
                spy.wait()
    if not out.exists():
        raise BenchError(f"py-spy wrote no profile: {err.decode(errors='replace')}")
    by_component, by_leaf, total = attribute(out.read_text())
    lines = [
        f"--- profile: {phase.key} under py-spy ({RATE_HZ} Hz, busy samples only): {result.hops_per_s:,.0f} hops/s, "
        f"{total:,} samples ---",
        "server CPU by component (innermost frame that belongs to one):",
    ]
    lines += [f"  {name:<40} {n / total:6.1%}" for name, n in by_component.most_common()]
    lines.append(f"top {TOP} functions by own samples:")
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in by_leaf.most_common(TOP)]
    return "\n".join(lines)
