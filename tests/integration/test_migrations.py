"""Migrations are versioned, applied once, and refuse files that changed after being applied."""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest

from storage import open_store
from storage.migrations import MigrationDrift, load_migrations
from storage.sqlite import sqlite_path

# SQLite and PostgreSQL only: the in-memory database has no schema to migrate (its tables are code).


async def test_migrating_again_applies_nothing(database_url: str) -> None:
    store = await open_store(database_url)
    try:
        assert await store.migrate() == []
    finally:
        await store.close()


async def test_every_backend_has_the_same_migration_versions() -> None:
    sqlite = [(m.version, m.name) for m in load_migrations("sqlite")]
    postgres = [(m.version, m.name) for m in load_migrations("postgres")]
    assert sqlite == postgres
    assert sqlite[0] == (1, "foundation")


async def test_a_changed_migration_file_is_refused(database_url: str) -> None:
    sql = "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1"
    if database_url.startswith("sqlite:"):
        conn = sqlite3.connect(sqlite_path(database_url))
        conn.execute(sql)
        conn.commit()
        conn.close()
    else:
        conn = await asyncpg.connect(database_url)
        await conn.execute(sql)
        await conn.close()
    with pytest.raises(MigrationDrift, match="0001_foundation"):
        await open_store(database_url, migrate=True)
