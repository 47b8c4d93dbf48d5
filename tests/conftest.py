"""Shared fixtures: real SQLite files and real PostgreSQL databases, made and dropped per test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from engine.kernel.clock import ManualClock
from engine.kernel.config import EngineConfig
from engine.platform import Platform
from engine.uow import Database as Store
from storage import open_store
from tests.support.markers import mark_postgres_backends
from tests.support.postgres import PostgresDatabases, postgres_admin_url
from ussd_server.kdf_pool import KdfPool

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
# The PIN KDF threads the platforms built here share (closed at the end of the session).
TEST_HASHER = KdfPool(workers=2)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_postgres_backends(items)  # so `-m "not postgres"` (make test-fast) runs without the server


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
    platform = Platform(store, TEST_CONFIG, TEST_HASHER, clock)
    await platform.bootstrap()
    return platform


@pytest.fixture(scope="session", autouse=True)
def _close_test_hasher() -> Iterator[None]:
    yield
    TEST_HASHER.close()
