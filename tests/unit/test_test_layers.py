"""Test layers share helpers through tests/support only: none imports another, nobody imports a test module.

The layers are tests/unit, tests/integration, tests/e2e, tests/drills and
bench. Each may import its own modules, ``tests.support`` and the production
packages; the test layers also the root ``tests.conftest`` (the shared
fixtures' constants). ``tests.support`` imports no layer at all. Importing a
``test_*.py`` module is refused everywhere, inside a layer too: it runs that
module's tests' imports and fixtures a second time, and a helper two test
modules need belongs in a helper module. This walks every module (including
imports inside functions) with ``ast``, resolving relative imports.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEST_LAYERS = ("unit", "integration", "e2e", "drills")
SUPPORT = "support"
ROOT_CONFTEST = "root"  # tests/conftest.py and the tests package itself


def layer_of(module: str) -> str | None:
    """The layer a dotted module name belongs to (``support`` and ``root`` included); None outside them."""
    parts = module.split(".")
    if parts[0] == "bench":
        return "bench"
    if parts[0] != "tests":
        return None
    if len(parts) == 1 or parts[1] == "conftest":
        return ROOT_CONFTEST
    return parts[1] if parts[1] in (*TEST_LAYERS, SUPPORT) else ROOT_CONFTEST


def allowed_layers(layer: str) -> set[str]:
    if layer == SUPPORT:
        return {SUPPORT}
    if layer == "bench":
        return {"bench", SUPPORT}
    return {layer, SUPPORT, ROOT_CONFTEST}


@dataclass(frozen=True)
class Import:
    line: int
    module: str  # the module imported from (resolved when relative)
    names: tuple[str, ...] = ()  # for ``from module import a, b``


def imports_in(source: str, module: str, *, package: bool) -> list[Import]:
    """Every import in ``source`` (the text of ``module``), relative ones resolved to absolute names."""
    found: list[Import] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [Import(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            found.append(Import(node.lineno, base, tuple(alias.name for alias in node.names)))
    return found


def is_test_module(module: str) -> bool:
    """A ``test_*`` module of ours (``aiohttp.test_utils`` is nobody's test module)."""
    return layer_of(module) is not None and any(part.startswith("test_") for part in module.split("."))


def imported_test_modules(imp: Import, root: Path = ROOT) -> list[str]:
    """``test_*`` modules among what ``imp`` imports (``from tests.e2e import test_journeys`` too)."""
    hits = [imp.module] if is_test_module(imp.module) else []
    package = root.joinpath(*imp.module.split("."))
    modules = [name for name in imp.names if name.startswith("test_") and (package / f"{name}.py").exists()]
    return hits + [f"{imp.module}.{name}" for name in modules]


def violations(source: str, module: str, *, package: bool = False, root: Path = ROOT) -> list[str]:
    """What ``module`` imports that its layer may not, in words, with line numbers."""
    own = layer_of(module)
    assert own is not None, f"{module} is in no layer"
    found = []
    for imp in imports_in(source, module, package=package):
        targets = [imp.module, *(f"{imp.module}.{name}" for name in imp.names)]
        layers = {layer for target in targets if (layer := layer_of(target)) is not None}
        for layer in sorted(layers - allowed_layers(own)):
            found.append(f"line {imp.line}: {module} ({own}) imports {imp.module} ({layer})")
        hits = imported_test_modules(imp, root)
        found += [f"line {imp.line}: {module} imports the test module {hit}" for hit in hits]
    return found


def module_name(path: Path) -> tuple[str, bool]:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


MODULES = sorted([*(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").rglob("*.py")])


def test_every_layer_was_found() -> None:
    layers = {layer_of(module_name(p)[0]) for p in MODULES}
    assert layers >= {*TEST_LAYERS, SUPPORT, "bench", ROOT_CONFTEST}, layers


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_module_imports_only_its_own_layer_and_the_shared_support(path: Path) -> None:
    module, package = module_name(path)
    bad = violations(path.read_text(encoding="utf-8"), module, package=package)
    assert not bad, "shared helpers belong in tests/support (or a helper module of the layer): " + "; ".join(bad)


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("tests.drills.load", "from tests.e2e.phone import Phone"),
        ("tests.drills.stack", "import tests.integration.redis_server"),
        ("tests.e2e.test_x", "def f():\n    from tests.drills.stack import PIN\n"),
        ("tests.e2e.test_x", "from tests import drills"),
        ("tests.drills.load", "from ..e2e.conftest import World"),
        ("tests.unit.test_x", "from bench.loadgen import Step"),
        ("bench.hops", "from tests.drills.stack import PIN"),
        ("bench.hops", "from tests.conftest import TEST_CONFIG"),
        ("tests.support.gateway", "from tests.e2e.screen_log import ScreenLog"),
        ("tests.support.gateway", "from tests.conftest import PRODUCTION"),
        ("tests.drills.test_pin_overload", "from tests.drills.test_brute_force import COST"),
        ("tests.drills.test_pin_overload", "from .test_brute_force import COST"),
        ("tests.e2e.test_hardening", "from tests.e2e import test_journeys"),
        ("tests.e2e.journeys", "import tests.e2e.test_journeys as tj"),
    ],
)
def test_the_checker_catches_a_forbidden_import(module: str, source: str) -> None:
    assert violations(source, module), f"missed a forbidden import in {module}: {source!r}"


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("tests.drills.load", "from tests.support.gateway import Phone, option"),
        ("tests.drills.test_x", "from tests.drills.stack import PIN, open_stack"),
        ("tests.drills.test_x", "from .journeys import at_home"),
        ("tests.e2e.test_x", "from tests.e2e.conftest import World"),
        ("tests.unit.test_x", "from tests.conftest import PRODUCTION"),
        ("tests.integration.test_x", "from tests.support import redis"),
        ("bench.hops", "from tests.support.redis import ThrowawayRedis"),
        ("bench.hops", "from simulator.protocol import GatewayClient\nfrom bench import population"),
        ("tests.support.servers", "from tests.support.processes import ChildProcess"),
        ("tests.e2e.test_x", "from tests.support.gateway import Phone as test_phone"),
        ("tests.e2e.conftest", "from aiohttp.test_utils import TestClient"),
    ],
)
def test_the_checker_allows_the_own_layer_and_the_shared_support(module: str, source: str) -> None:
    assert violations(source, module) == []


def test_the_checker_names_the_line_and_both_layers() -> None:
    assert violations("import json\nfrom tests.e2e.phone import Phone\n", "tests.drills.load") == [
        "line 2: tests.drills.load (drills) imports tests.e2e.phone (e2e)"
    ]
