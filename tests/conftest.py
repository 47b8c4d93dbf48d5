"""Shared fixtures: real SQLite files and real PostgreSQL databases, made and dropped per test."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import asyncpg
import pytest

from engine.clock import ManualClock
from engine.config import EngineConfig
from engine.platform import Platform
from engine.ports import Store
from storage import open_store

DEFAULT_POSTGRES_URL = "postgresql://127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
BACKENDS = ["sqlite", "postgres"]
# Real scrypt, cheaper cost: PIN checks stay exact while the suite stays fast.
# The least a production configuration needs (settings refuse to start without it).
PRODUCTION = {
    "ENERLECTRA_ENV": "production",
    "PIN_PEPPER": "p" * 40,
    "GATEWAY_SECRET": "g" * 40,
    "SMS_BACKEND": "africastalking",
    "AT_API_KEY": "at-api-key",
}
TEST_CONFIG = EngineConfig(pin_kdf_log2_n=10, pin_pepper=b"test-pepper-0123456789")


def postgres_admin_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgresql:", "postgres:")) else DEFAULT_POSTGRES_URL


def redis_url() -> str:
    return os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL


def _with_database(url: str, name: str) -> str:
    return urlunparse(urlparse(url)._replace(path=f"/{name}"))


class PostgresDatabases:
    """Throwaway databases cloned from one migrated template per test session."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.template = f"enerlectra_tmpl_{os.getpid()}_{secrets.token_hex(3)}"
        self.created: list[str] = []
        self._ready = False

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(self.admin_url, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def create(self) -> str:
        if not self._ready:
            await self._admin(f'CREATE DATABASE "{self.template}"')
            store = await open_store(_with_database(self.admin_url, self.template), migrate=True)
            await store.close()
            self._ready = True
        name = f"enerlectra_test_{secrets.token_hex(6)}"
        await self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.created.append(name)
        return _with_database(self.admin_url, name)

    async def drop_all(self) -> None:
        for name in [*self.created, self.template]:
            await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases(postgres_admin_url())
    yield databases
    asyncio.run(databases.drop_all())


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def database_url(backend: str, tmp_path: Path, postgres_databases: PostgresDatabases) -> str:
    """A fresh, migrated database of the requested backend."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/enerlectra.db"
        store = await open_store(url, migrate=True)
        await store.close()
        return url
    return await postgres_databases.create()


StoreOpener = Callable[[], Awaitable[Store]]


@pytest.fixture
async def open_test_store(database_url: str, clock: ManualClock) -> AsyncIterator[StoreOpener]:
    """Open (and reopen) stores on the test database; all are closed at the end."""
    opened: list[Store] = []

    async def opener() -> Store:
        store = await open_store(database_url, clock=clock, max_batch=TEST_CONFIG.max_batch)
        opened.append(store)
        return store

    yield opener
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_test_store: StoreOpener) -> Store:
    return await open_test_store()


@pytest.fixture
async def platform(store: Store, clock: ManualClock) -> Platform:
    platform = Platform(store, TEST_CONFIG, clock)
    await platform.bootstrap()
    return platform
