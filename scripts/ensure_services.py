"""Make sure the Redis and PostgreSQL that the integration tests use are reachable.

Uses REDIS_URL / DATABASE_URL when set (DATABASE_URL only if it is a
postgresql:// URL), else the local defaults below. A local server that is
installed but stopped is started; a missing one is installed with apt when we
are root; otherwise this stops with the exact command to run. Nothing is
skipped silently: the test suite fails if these are not reachable.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from urllib.parse import urlparse

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_POSTGRES_URL = "postgresql://127.0.0.1:5432/test"
LOCAL = {"127.0.0.1", "localhost", "::1", ""}


def postgres_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgresql:", "postgres:")) else DEFAULT_POSTGRES_URL


def redis_url() -> str:
    return os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL


def say(message: str) -> None:
    print(f"[services] {message}", flush=True)


def fail(message: str) -> None:
    print(f"[services] ERROR: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def run(*cmd: str) -> None:
    say("$ " + " ".join(cmd))
    subprocess.run(cmd, check=True)


def apt_install(package: str) -> None:
    if os.geteuid() != 0:
        fail(f"{package} is not installed. Run: sudo apt-get update && sudo apt-get install -y {package}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", package], check=True, env=env)


def redis_ok(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping())
    except Exception:
        return False


def postgres_error(url: str) -> str | None:
    import asyncpg

    async def probe() -> None:
        conn = await asyncpg.connect(url, timeout=5)
        try:
            await conn.fetchval("SELECT 1")
        finally:
            await conn.close()

    try:
        asyncio.run(probe())
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def wait_for(check: object, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.5)
    fail(f"{what} did not become reachable within {seconds:.0f}s")


def ensure_redis() -> None:
    url = redis_url()
    if redis_ok(url):
        say(f"redis reachable at {url}")
        return
    parsed = urlparse(url)
    if parsed.hostname not in LOCAL:
        fail(f"Redis at {url} is not reachable; start it or point REDIS_URL at a running server")
    if shutil.which("redis-server") is None:
        apt_install("redis-server")
    run(
        "redis-server",
        "--daemonize",
        "yes",
        "--bind",
        "127.0.0.1",
        "--port",
        str(parsed.port or 6379),
        "--save",
        "",
        "--appendonly",
        "no",
    )
    wait_for(lambda: redis_ok(url), f"redis at {url}")
    say(f"redis started at {url}")


def ensure_postgres() -> None:
    url = postgres_url()
    error = postgres_error(url)
    if error is None:
        say(f"postgresql reachable at {url}")
        return
    parsed = urlparse(url)
    if parsed.hostname not in LOCAL:
        fail(f"PostgreSQL at {url} is not reachable ({error}); set DATABASE_URL to a running server")
    if "does not exist" in error or "authentication" in error:
        user = parsed.username or os.environ.get("USER") or "root"
        db = (parsed.path or "/test").lstrip("/")
        fail(
            f"PostgreSQL runs but refuses {url}: {error}\n"
            f"  Run: sudo -u postgres createuser --superuser {user} && sudo -u postgres createdb -O {user} {db}"
        )
    if shutil.which("pg_ctlcluster") is None:
        apt_install("postgresql")
    clusters = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=False).stdout.split()
    if len(clusters) >= 2:
        run("pg_ctlcluster", "--skip-systemctl-redirect", clusters[0], clusters[1], "start")
    wait_for(
        lambda: postgres_error(url) is None or "does not exist" in (postgres_error(url) or ""), f"postgresql at {url}"
    )
    error = postgres_error(url)
    if error and "does not exist" in error and os.geteuid() == 0:
        user = parsed.username or "root"
        db = (parsed.path or "/test").lstrip("/")
        subprocess.run(["runuser", "-u", "postgres", "--", "createuser", "--superuser", user], check=False)
        subprocess.run(["runuser", "-u", "postgres", "--", "createdb", "-O", user, db], check=False)
        error = postgres_error(url)
    if error:
        fail(f"PostgreSQL at {url} is still not usable: {error}")
    say(f"postgresql started at {url}")


if __name__ == "__main__":
    ensure_redis()
    ensure_postgres()
