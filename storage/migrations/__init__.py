"""Versioned SQL migrations, one folder per backend (``NNNN_name.sql``).

Each applied migration is recorded with a checksum of its text; a recorded
migration whose file later changed is refused rather than silently skipped.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationDrift(RuntimeError):
    """An applied migration's file no longer matches what was applied."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(backend: str) -> list[Migration]:
    folder = resources.files("storage.migrations").joinpath(backend)
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"{backend} migrations are not numbered 1..n without gaps: {versions}")
    return found


def pending_migrations(backend: str, applied: dict[int, str]) -> list[Migration]:
    """Migrations not yet applied; raises :class:`MigrationDrift` if an applied one changed."""
    todo = []
    for migration in load_migrations(backend):
        recorded = applied.get(migration.version)
        if recorded is None:
            todo.append(migration)
        elif recorded != migration.checksum:
            raise MigrationDrift(
                f"{backend} migration {migration.version:04d}_{migration.name} changed after it was applied"
            )
    return todo
