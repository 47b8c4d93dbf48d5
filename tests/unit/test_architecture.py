"""The shape of the code, checked: layer contracts, module sizes, entry points that stay on the services."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
# Past this a module is doing too many things: split it (STYLE.md: aim under ~300, split past ~500).
MAX_LINES = 400
SIZED_PACKAGES = ("engine", "storage", "ussd_server")
ENTRY_POINTS = ("ussd_server", "simulator")


def test_the_layer_contracts_hold() -> None:
    # The contracts live in pyproject.toml ([tool.importlinter]); `make lint` runs the same check.
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


@pytest.mark.parametrize("package", SIZED_PACKAGES)
def test_no_module_grows_past_the_size_a_reader_can_hold(package: str) -> None:
    too_long = {
        str(path.relative_to(ROOT)): n
        for path in sorted((ROOT / package).rglob("*.py"))
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"


STORE_REACH = re.compile(r"(platform|PLATFORM\])\.store\b")


@pytest.mark.parametrize("package", ENTRY_POINTS)
def test_entry_points_go_through_the_services_never_the_store(package: str) -> None:
    # Platform.store exists for tests only; an entry point reaching it would skip the services' rules.
    reaching = [
        f"{path.relative_to(ROOT)}:{i}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if STORE_REACH.search(line)
    ]
    assert not reaching, f"entry points reaching past the services: {reaching}"
