"""The engine depends on the standard library only.

Storage, HTTP, Redis and phone-number parsing live in adapters; the engine
must stay importable and testable without any of them. This walks every
module under engine/ (including imports inside functions) and refuses any
import that is neither stdlib nor the engine itself.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[2] / "engine"
ALLOWED = frozenset(sys.stdlib_module_names) | {"engine"}


def foreign_imports(source: str) -> list[str]:
    """Imports in ``source`` that are neither stdlib nor ``engine``, as written (with line numbers)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names if _top(a.name) not in ALLOWED]
        elif isinstance(node, ast.ImportFrom):
            if node.level > 0:  # relative import: inside the engine package
                continue
            if node.module is None or _top(node.module) not in ALLOWED:
                found.append(f"line {node.lineno}: from {node.module} import ...")
    return found


def _top(name: str) -> str:
    return name.split(".", 1)[0]


ENGINE_FILES = sorted(ENGINE.rglob("*.py"))


def test_the_engine_package_was_found() -> None:
    names = {p.relative_to(ENGINE).as_posix() for p in ENGINE_FILES}
    assert {"__init__.py", "identity/pins.py", "platform.py", "ledger/model.py"} <= names, (
        f"engine files: {sorted(names)}"
    )


@pytest.mark.parametrize("path", ENGINE_FILES, ids=lambda p: p.relative_to(ENGINE).as_posix())
def test_engine_module_imports_only_stdlib_and_engine(path: Path) -> None:
    bad = foreign_imports(path.read_text(encoding="utf-8"))
    assert not bad, f"{path.relative_to(ENGINE.parent)} imports outside stdlib/engine: " + "; ".join(bad)


@pytest.mark.parametrize(
    "source",
    [
        "import aiohttp",
        "import os, aiohttp.web",
        "from aiohttp import web",
        "from storage.sqlite import SqliteStore",
        "def f():\n    import phonenumbers\n    return phonenumbers",
        "class C:\n    def m(self):\n        from redis.asyncio import Redis\n",
        "try:\n    import msgpack\nexcept ImportError:\n    msgpack = None",
        "if True:\n    import pydantic as pd",
    ],
)
def test_the_checker_catches_a_non_stdlib_import(source: str) -> None:
    assert foreign_imports(source), f"checker missed a foreign import in {source!r}"


def test_the_checker_reports_the_offending_import_and_line() -> None:
    assert foreign_imports("import json\n\nimport aiohttp\n") == ["line 3: import aiohttp"]


@pytest.mark.parametrize(
    "source",
    [
        "import json, hashlib",
        "from __future__ import annotations",
        "from collections.abc import Sequence",
        "import engine.ledger.model",
        "from engine.kernel.errors import WeakPin",
        "from . import errors",
        "from .ledger.model import Ledger",
        "def f():\n    import asyncio\n",
    ],
)
def test_the_checker_allows_stdlib_engine_and_relative_imports(source: str) -> None:
    assert foreign_imports(source) == []
