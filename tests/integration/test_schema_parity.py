"""Schema parity: freshly migrated SQLite and PostgreSQL databases have the same schema.

Tables, columns in order (types mapped: INTEGER is BIGINT, JSONB is TEXT),
nullability, primary keys, unique constraints, foreign keys and indexes
(columns, uniqueness and the literals of a partial index's predicate) must
agree, so a migration that changes one backend only fails here. CHECK
constraints are compared by neither database's catalog in a comparable form
and are left to the contract suite. The table specs the SQL is built from
(storage/tables.py) must match the migrated columns too.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest

from storage import open_store
from storage.sqlite import sqlite_path
from storage.tables import TABLES
from tests.support.postgres import throwaway_database

# PostgreSQL type -> SQLite type (both backends' schema_migrations included).
_TYPES = {"bigint": "INTEGER", "integer": "INTEGER", "text": "TEXT", "jsonb": "TEXT"}


@dataclass
class Table:
    columns: list[tuple[str, str, bool]] = field(default_factory=list)  # name, SQLite type, nullable
    primary_key: tuple[str, ...] = ()
    unique: set[tuple[str, ...]] = field(default_factory=set)
    foreign_keys: set[tuple[tuple[str, ...], str, tuple[str, ...]]] = field(default_factory=set)
    # name -> (columns, unique, literals of the partial-index predicate or None)
    indexes: dict[str, tuple[tuple[str, ...], bool, frozenset[str] | None]] = field(default_factory=dict)


Schema = dict[str, Table]


def _literals(predicate: str | None) -> frozenset[str] | None:
    """The quoted literals of an index predicate: comparable across both catalogs' spellings."""
    return None if predicate is None else frozenset(re.findall(r"'([^']*)'", predicate))


def sqlite_schema(path: str) -> Schema:
    conn = sqlite3.connect(path)
    try:
        schema: Schema = {}
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for name in (n for n in names if not n.startswith("sqlite_")):
            table = schema[name] = Table()
            info = conn.execute(f"PRAGMA table_info({name})").fetchall()  # cid, name, type, notnull, default, pk
            pk = sorted((r[5], r[1]) for r in info if r[5])
            table.primary_key = tuple(c for _, c in pk)
            # A STRICT table's primary key is NOT NULL whatever the pragma reports.
            table.columns = [(r[1], r[2].upper(), not r[3] and r[1] not in table.primary_key) for r in info]
            for fk in conn.execute(f"PRAGMA foreign_key_list({name})").fetchall():
                table.foreign_keys.add(((fk[3],), fk[2], (fk[4],)))
            for _, index, unique, origin, partial in conn.execute(f"PRAGMA index_list({name})").fetchall():
                columns = tuple(r[2] for r in conn.execute(f"PRAGMA index_info({index})"))
                if origin == "u":
                    table.unique.add(columns)
                elif origin == "c":
                    (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (index,)).fetchone()
                    where = sql.split(" WHERE ", 1)[1] if partial else None
                    table.indexes[index] = (columns, bool(unique), _literals(where))
        return schema
    finally:
        conn.close()


async def postgres_schema(url: str) -> Schema:
    conn = await asyncpg.connect(url)
    try:
        schema: Schema = {}
        for r in await conn.fetch(
            "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
        ):
            table = schema.setdefault(r["table_name"], Table())
            table.columns.append(
                (r["column_name"], _TYPES.get(r["data_type"], r["data_type"]), r["is_nullable"] == "YES")
            )
        constraints = await conn.fetch(
            "SELECT c.conrelid::regclass::text AS tab, c.contype::text AS contype, "
            "ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY AS k (n, i) "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i)::text[] AS cols, "
            "c.confrelid::regclass::text AS ref, "
            "ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY AS k (n, i) "
            "JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i)::text[] AS ref_cols "
            "FROM pg_constraint c JOIN pg_namespace s ON s.oid = c.connamespace "
            "WHERE s.nspname = 'public' AND c.contype IN ('p', 'u', 'f')"
        )
        for c in constraints:
            table = schema[c["tab"]]
            if c["contype"] == "p":
                table.primary_key = tuple(c["cols"])
            elif c["contype"] == "u":
                table.unique.add(tuple(c["cols"]))
            else:
                table.foreign_keys.add((tuple(c["cols"]), c["ref"], tuple(c["ref_cols"])))
        for i in await conn.fetch(
            "SELECT t.relname AS tab, x.relname AS name, i.indisunique AS is_unique, "
            "pg_get_expr(i.indpred, i.indrelid) AS predicate, "
            "ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY AS k (n, o) "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o)::text[] AS cols "
            "FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid "
            "JOIN pg_namespace s ON s.oid = t.relnamespace "
            "WHERE s.nspname = 'public' AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
        ):
            schema[i["tab"]].indexes[i["name"]] = (tuple(i["cols"]), i["is_unique"], _literals(i["predicate"]))
        return schema
    finally:
        await conn.close()


@pytest.fixture
async def schemas(tmp_path: Path) -> tuple[Schema, Schema]:
    sqlite_url = f"sqlite:///{tmp_path}/parity.db"
    store = await open_store(sqlite_url, migrate=True)
    await store.close()
    async with throwaway_database("parity") as postgres_url:
        store = await open_store(postgres_url, migrate=True)
        await store.close()
        return sqlite_schema(sqlite_path(sqlite_url)), await postgres_schema(postgres_url)


@pytest.mark.postgres
async def test_both_backends_migrate_to_the_same_schema(schemas: tuple[Schema, Schema]) -> None:
    sqlite, postgres = schemas
    assert sorted(sqlite) == sorted(postgres), "the same tables"
    for name in sorted(sqlite):
        s, p = sqlite[name], postgres[name]
        assert s.columns == p.columns, f"{name}: columns (name, type, nullable) in order"
        assert s.primary_key == p.primary_key, f"{name}: primary key"
        assert s.unique == p.unique, f"{name}: unique constraints"
        assert s.foreign_keys == p.foreign_keys, f"{name}: foreign keys"
        assert s.indexes == p.indexes, f"{name}: indexes (columns, unique, predicate literals)"


@pytest.mark.postgres
async def test_the_table_specs_match_the_migrated_columns(schemas: tuple[Schema, Schema]) -> None:
    """Every spec's columns appear in its table, in the same order, with the spec's type, on both backends."""
    for schema in schemas:
        for spec in TABLES:
            columns = {name: type_ for name, type_, _ in schema[spec.name].columns}
            order = [name for name, _, _ in schema[spec.name].columns]
            assert all(c.name in columns for c in spec.columns), f"{spec.name}: a spec column is missing"
            assert [c.name for c in spec.columns] == [n for n in order if n in set(spec.names)], f"{spec.name}: order"
            assert [c.type.sqlite for c in spec.columns] == [columns[c.name] for c in spec.columns], f"{spec.name}"
