"""What really differs between SQLite and PostgreSQL, and the interface repositories run SQL through.

SQL is written once, in PostgreSQL's spelling, and :func:`sql` derives
SQLite's text when the statement is defined (module import), never per call:

* ``$n`` becomes ``?n``: both are numbered, so a parameter may appear twice;
* ``x = ANY($n::t[])`` becomes ``x IN (SELECT value FROM json_each(?n))``
  (``<> ALL`` becomes ``NOT IN``), and the SQLite executor sends that
  parameter as a JSON array. One statement text serves any number of ids,
  so SQLite's statement cache, like PostgreSQL's prepared statements, holds
  one plan, and no list is cut into chunks under SQLite's parameter limit;
* ``FOR UPDATE [SKIP LOCKED]`` is dropped: a SQLite write transaction
  (``BEGIN IMMEDIATE``) already holds the whole database's write lock;
* ``::type`` casts are dropped: SQLite's STRICT columns carry their types
  and JSONB is TEXT there.

What cannot be spelled once (PostgreSQL's ``unnest`` batches and lateral
joins) is written per dialect with :func:`sql_pair`, :func:`postgres_only` or
:class:`Batch`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

Row = Sequence[Any]


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    # One writer at a time for the whole database (SQLite's BEGIN IMMEDIATE):
    # what PostgreSQL must lock row by row is already serialised.
    serialised_writes: bool


SQLITE = Dialect("sqlite", serialised_writes=True)
POSTGRES = Dialect("postgres", serialised_writes=False)


@dataclass(frozen=True, slots=True)
class Sql:
    """One statement in each dialect's spelling."""

    postgres: str
    sqlite: str | None  # None: PostgreSQL only (the SQLite executor refuses it)
    arrays: tuple[int, ...] = ()  # 0-based positions of array parameters (JSON text for SQLite)


@dataclass(frozen=True, slots=True)
class Batch:
    """Many rows written by one call.

    SQLite runs ``sqlite`` once per row (``executemany``), each row followed by
    the call's shared parameters; PostgreSQL runs ``postgres`` once, with one
    array per column (``width`` of them, for ``unnest``) and then the shared
    parameters: one round trip whatever the number of rows.
    """

    postgres: str
    sqlite: str
    width: int


class Executor(Protocol):
    """One connection (or a pool of autocommit connections) as repositories see it."""

    @property
    def dialect(self) -> Dialect: ...

    async def fetch(self, sql: Sql, *args: Any) -> list[Row]: ...

    async def fetch_one(self, sql: Sql, *args: Any) -> Row | None: ...

    async def execute(self, sql: Sql, *args: Any) -> int:
        """Run a statement; returns the rows it changed."""
        ...

    async def execute_batch(self, batch: Batch, rows: Sequence[Sequence[Any]], *args: Any) -> int:
        """Write ``rows`` (nothing at all for none); returns the rows changed."""
        ...


_ARRAY_PARAM = re.compile(r"\$(\d+)::\w+\[\]")
_ANY = re.compile(r"=\s*ANY\(\$(\d+)::\w+\[\]\)")
_ALL = re.compile(r"<>\s*ALL\(\$(\d+)::\w+\[\]\)")
_LOCKING = re.compile(r"\s+FOR UPDATE(?: SKIP LOCKED)?")
_CAST = re.compile(r"::\w+")
_PARAM = re.compile(r"\$(\d+)")
_JSON_EACH = re.compile(r"json_each\(\?(\d+)\)")
# What sql() cannot translate: give SQLite's text explicitly instead.
_POSTGRES_ONLY = re.compile(r"\$|::|\bANY\(|\bALL\(|\bunnest\b|\bLATERAL\b|\bpg_\w+|\bhashtext\b|\bILIKE\b", re.I)


def _array_positions(text: str) -> tuple[int, ...]:
    return tuple(sorted({int(n) - 1 for n in _ARRAY_PARAM.findall(text)}))


def to_sqlite(text: str) -> str:
    """SQLite's spelling of a PostgreSQL statement; raises ValueError if it has no direct one."""
    out = _ANY.sub(r"IN (SELECT value FROM json_each(?\1))", text)
    out = _ALL.sub(r"NOT IN (SELECT value FROM json_each(?\1))", out)
    out = _LOCKING.sub("", out)
    out = _CAST.sub("", out)
    out = _PARAM.sub(r"?\1", out)
    leftover = _POSTGRES_ONLY.search(out)
    if leftover:
        raise ValueError(f"no SQLite spelling for {leftover.group(0)!r} in: {text}")
    return out


def sql(text: str) -> Sql:
    """A statement written once (PostgreSQL's spelling), with SQLite's derived from it."""
    return Sql(text, to_sqlite(text), _array_positions(text))


def sql_pair(*, postgres: str, sqlite: str) -> Sql:
    """A statement each dialect spells its own way (array parameters as in :func:`sql`)."""
    arrays = _array_positions(postgres)
    # Both spellings must agree on which parameters are lists.
    sqlite_arrays = tuple(sorted({int(n) - 1 for n in _JSON_EACH.findall(sqlite)}))
    if sqlite_arrays != arrays:
        raise ValueError(f"array parameters differ: postgres {arrays}, sqlite {sqlite_arrays}")
    return Sql(postgres, sqlite, arrays)


def postgres_only(text: str) -> Sql:
    """A statement only PostgreSQL needs (say a lock SQLite's single writer makes redundant)."""
    return Sql(text, None, _array_positions(text))


def unnest(types: Sequence[str], first: int = 1) -> str:
    """``unnest($first::t1[], $first+1::t2[], ...)``: one array parameter per column."""
    return "unnest(" + ", ".join(f"${first + i}::{t}[]" for i, t in enumerate(types)) + ")"


def columns_of(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows transposed into one list per column (``width`` empty lists for no rows)."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


def changed_rows(command_status: str) -> int:
    """A PostgreSQL command tag's row count: ``"UPDATE 3"`` -> 3, ``"INSERT 0 1"`` -> 1."""
    return int(command_status.rsplit(" ", 1)[1])
