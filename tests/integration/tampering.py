"""Raw SQL for tests that play the attacker: bypass the immutability triggers and edit rows."""

from __future__ import annotations

import sqlite3

import asyncpg

from storage.sqlite import sqlite_path


async def execute_raw(database_url: str, *statements: str) -> None:
    """Run statements with the immutability triggers out of the way, as someone with DB access could."""
    if database_url.startswith("sqlite:"):
        conn = sqlite3.connect(sqlite_path(database_url), isolation_level=None)
        try:
            conn.execute("DROP TRIGGER IF EXISTS transfers_no_update")
            conn.execute("DROP TRIGGER IF EXISTS transfers_no_delete")
            for sql in statements:
                conn.execute(sql)
        finally:
            conn.close()
        return
    pg = await asyncpg.connect(database_url)
    try:
        await pg.execute("ALTER TABLE transfers DISABLE TRIGGER transfers_no_update_or_delete")
        for sql in statements:
            await pg.execute(sql)
    finally:
        await pg.close()
