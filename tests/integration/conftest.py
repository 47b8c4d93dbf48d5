"""Integration fixtures: the storage contract tests run on the in-memory database too.

A contract module opts in with ``pytestmark = ALL_BACKENDS``; the rest keep
the SQLite/PostgreSQL matrix of tests/conftest.py. A test inherently about a
real database (crash recovery across processes, migrations, raw SQL) stays
out and says why.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage import open_store
from storage.memory import drop_memory_database
from tests.conftest import BACKENDS
from tests.support.postgres import PostgresDatabases

ALL_BACKENDS = pytest.mark.parametrize("backend", [*BACKENDS, "memory"], indirect=True)


@pytest.fixture
async def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A fresh, migrated database of the requested backend (a named in-memory one for ``memory``)."""
    if backend == "memory":
        # Named, so every store a test opens on it shares the data, as with a file.
        url = f"memory://test-{secrets.token_hex(6)}"
        yield url
        drop_memory_database(url)
    elif backend == "sqlite":
        url = f"sqlite:///{tmp_path}/enerlectra.db"
        store = await open_store(url, migrate=True)
        await store.close()
        yield url
    else:
        databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
        yield await databases.create()
