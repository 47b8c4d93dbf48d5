"""Throwaway databases on the running PostgreSQL server, so tests and benchmarks never share one.

Isolation needs no server of its own: every test (and every benchmark phase)
gets a fresh database, dropped at the end with ``WITH (FORCE)``. A fault
that must stay inside one database does too: the connection-loss drill ends
its server's connections with ``pg_terminate_backend`` limited to its own
database, which leaves every other test's connections alone. Nothing here
stops or reconfigures the server itself.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlparse, urlunparse

import asyncpg

from storage import open_store

DEFAULT_POSTGRES_URL = "postgresql://127.0.0.1:5432/test"
CONNECT_TIMEOUT_S = 10


def postgres_admin_url() -> str:
    """The server to make databases on: ``DATABASE_URL`` if it is a PostgreSQL URL, else the local default."""
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgresql:", "postgres:")) else DEFAULT_POSTGRES_URL


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` instead."""
    return urlunparse(urlparse(url)._replace(path=f"/{name}"))


async def admin_execute(admin_url: str, sql: str) -> None:
    """One statement on its own connection (CREATE/DROP DATABASE cannot run inside a transaction)."""
    conn = await asyncpg.connect(admin_url, timeout=CONNECT_TIMEOUT_S)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@asynccontextmanager
async def throwaway_database(label: str, admin_url: str | None = None) -> AsyncIterator[str]:
    """An empty database named after ``label``; dropped at the end whatever happens."""
    admin_url = admin_url or postgres_admin_url()
    name = f"enerlectra_{label}_{secrets.token_hex(4)}"
    await admin_execute(admin_url, f'CREATE DATABASE "{name}"')
    try:
        yield with_database(admin_url, name)
    finally:
        await admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class PostgresDatabases:
    """Migrated throwaway databases for one test session, each cloned from one migrated template.

    Nothing is made (and nothing connects) until the first ``create()``, so a
    run without PostgreSQL tests never needs the server.
    """

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.template = f"enerlectra_tmpl_{os.getpid()}_{secrets.token_hex(3)}"
        self.created: list[str] = []
        self._template_made = False
        self._ready = False  # the template is migrated

    async def create(self) -> str:
        """The URL of a new database holding the current schema."""
        if not self._ready:
            if not self._template_made:
                await admin_execute(self.admin_url, f'CREATE DATABASE "{self.template}"')
                self._template_made = True
            store = await open_store(with_database(self.admin_url, self.template), migrate=True)
            await store.close()
            self._ready = True
        name = f"enerlectra_test_{secrets.token_hex(6)}"
        await admin_execute(self.admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.created.append(name)
        return with_database(self.admin_url, name)

    async def drop_all(self) -> None:
        for name in [*self.created, *([self.template] if self._template_made else [])]:
            await admin_execute(self.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()
        self._template_made = self._ready = False
