"""How a table spec derives its SQL and mappers: columns in order with a type tag, nothing more (no ORM).

A :class:`Table` lists the columns its record maps, in table order, and
builds once, at import: the select list, the INSERT statements (one row;
many rows, per row on SQLite and through ``unnest`` on PostgreSQL),
PostgreSQL's array types, and the row <-> record mappers. The specs
themselves are in :mod:`storage.tables`.
"""

from __future__ import annotations

import dataclasses
import enum
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from storage.dialect import Batch, Row, to_sqlite, unnest

R = TypeVar("R")


class ColumnType(enum.Enum):
    """A column's type: ``value`` is PostgreSQL's name for it, :attr:`sqlite` SQLite's."""

    INTEGER = "bigint"  # SQLite's INTEGER is 64-bit too
    TEXT = "text"
    JSON = "jsonb"  # TEXT in SQLite; read back as text in both

    @property
    def sqlite(self) -> str:
        return "INTEGER" if self is ColumnType.INTEGER else "TEXT"

    @property
    def array(self) -> str:
        """The element type of PostgreSQL arrays carrying this column (JSON travels as text)."""
        return "text" if self is ColumnType.JSON else self.value


INTEGER, TEXT, JSON = ColumnType.INTEGER, ColumnType.TEXT, ColumnType.JSON


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: ColumnType
    attr: str = ""  # the record's field; the column's name if empty
    decode: Callable[[Any], Any] | None = None  # stored value -> field value
    encode: Callable[[Any], Any] | None = None  # field value -> stored value
    generated: bool = False  # an identity column: the database numbers new rows

    @property
    def field(self) -> str:
        return self.attr or self.name


def _as_row(*values: Any) -> tuple[Any, ...]:
    return values


class Table(Generic[R]):
    """One table: its columns, and the SQL and mappers built from them once, at import."""

    def __init__(self, name: str, columns: Sequence[Column], build: Callable[..., R] | None = None) -> None:
        self.name = name
        self.columns = tuple(columns)
        self.names = tuple(c.name for c in self.columns)
        self.array_types = tuple(c.type.array for c in self.columns)
        self._build: Callable[..., Any] = build or _as_row
        # The select list; PostgreSQL reads JSONB back as text (dialect.sql drops the cast for SQLite).
        self.select = ", ".join(f"{c.name}::text AS {c.name}" if c.type is JSON else c.name for c in self.columns)
        # Inserts name every column but an identity one, in order.
        inserted = [c for c in self.columns if not c.generated]
        listed = ", ".join(c.name for c in inserted)
        marks = ", ".join(f"${i}::jsonb" if c.type is JSON else f"${i}" for i, c in enumerate(inserted, 1))
        self.insert = f"INSERT INTO {name} ({listed}) VALUES ({marks})"
        picked = ", ".join(f"{c.name}::jsonb" if c.type is JSON else c.name for c in inserted)
        arrays = unnest([c.type.array for c in inserted])
        self.insert_batch = Batch(
            postgres=f"INSERT INTO {name} ({listed}) SELECT {picked} FROM {arrays} AS u ({listed})",
            sqlite=to_sqlite(self.insert),
            width=len(inserted),
        )
        self.record = self._mapper()
        self.values = self.getter(*self.names)

    def select_as(self, alias: str) -> str:
        """The select list with every column qualified by ``alias`` (for joins)."""
        return ", ".join(
            f"{alias}.{c.name}::text AS {c.name}" if c.type is JSON else f"{alias}.{c.name}" for c in self.columns
        )

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def assignments(self, names: Sequence[str], first: int = 1) -> str:
        """``a = $first, b = $first+1, ...``, for an UPDATE's SET."""
        return ", ".join(f"{n} = ${i}" for i, n in enumerate(names, first))

    def getter(self, *names: str) -> Callable[[Any], tuple[Any, ...]]:
        """A record's values for ``names``, in that order, encoded for storage."""
        columns = [self.column(n) for n in names]
        get = operator.attrgetter(*(c.field for c in columns))
        encoders = tuple((i, c.encode) for i, c in enumerate(columns) if c.encode is not None)
        single = len(columns) == 1

        def values(record: Any) -> tuple[Any, ...]:
            got = get(record)
            out = [got] if single else list(got)
            for i, encode in encoders:
                out[i] = encode(out[i])
            return tuple(out)

        return values

    def _mapper(self) -> Callable[[Row], R]:
        build = self._build
        decoders = tuple((i, c.decode) for i, c in enumerate(self.columns) if c.decode is not None)
        fields = [c.field for c in self.columns]
        # Positional arguments are the fastest: a dataclass whose first fields are the
        # columns' is built from the row's values, reordered if its fields come in
        # another order; any other record class by keyword. A builder function takes
        # the columns in order.
        order: list[int] | None = None
        by_keyword = False
        if dataclasses.is_dataclass(build):
            leading = [f.name for f in dataclasses.fields(build)][: len(fields)]
            if sorted(leading) != sorted(fields):
                by_keyword = True
            elif leading != fields:
                order = [fields.index(name) for name in leading]

        def record(row: Row) -> R:
            values = list(row)
            for i, decode in decoders:
                values[i] = decode(values[i])
            if order is not None:
                return build(*[values[i] for i in order])  # type: ignore[no-any-return]
            if by_keyword:
                return build(**dict(zip(fields, values, strict=True)))  # type: ignore[no-any-return]
            return build(*values)  # type: ignore[no-any-return]

        return record
