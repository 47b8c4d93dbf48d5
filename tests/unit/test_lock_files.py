"""The lock files agree with pyproject.toml, and each install holds what it should and no more.

``make install`` installs ``requirements/server.lock``, ``make sim`` ``sim.lock``
and ``make install-dev`` ``dev.lock``, all with ``pip --require-hashes``; ``make
lock`` regenerates them. A dependency added or tightened in pyproject.toml
without ``make lock`` fails here, before an install on another machine does.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
SELF = canonicalize_name(PROJECT["name"])
LOCKS = {"server": (), "sim": ("sim",), "dev": ("dev",)}  # lock -> the extras it installs
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")
TEXTUAL = canonicalize_name("textual")


@dataclass(frozen=True)
class Pin:
    """One locked requirement: ``name==version ; marker`` with its hashes and what needs it."""

    name: NormalizedName
    version: Version
    hashes: tuple[str, ...]
    via: tuple[str, ...]
    line: int


def read_lock(path: Path) -> list[Pin]:
    pins: list[Pin] = []
    entry: list[str] = []
    via: list[str] = []
    start = 0

    def close() -> None:
        if not entry:
            return
        text = " ".join(entry)
        spec = text.split(" --hash=")[0]
        try:
            req = Requirement(spec)
        except InvalidRequirement as exc:
            raise AssertionError(f"{path.name}:{start}: not a requirement: {spec!r} ({exc})") from None
        clauses = list(req.specifier)
        assert len(clauses) == 1, f"{path.name}:{start}: {spec!r} is not pinned to one version"
        assert clauses[0].operator == "==", f"{path.name}:{start}: {spec!r} is not pinned with =="
        pins.append(
            Pin(canonicalize_name(req.name), Version(clauses[0].version), tuple(HASH.findall(text)), tuple(via), start)
        )

    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if line.startswith("# via"):  # "# via aiohttp", or "# via" then one "#   name" line each
            if rest := line.removeprefix("# via").strip():
                via.append(rest)
        elif line.startswith("#   "):
            via.append(line.lstrip("#").strip())
        elif not line or line.startswith("#"):
            continue
        elif raw[:1].isspace():  # a continuation: the --hash lines
            entry.append(line.rstrip("\\").strip())
        else:
            close()
            entry, via, start = [line.rstrip("\\").strip()], [], number
    close()
    return pins


def _names(requirements: list[Requirement]) -> set[NormalizedName]:
    return {canonicalize_name(r.name) for r in requirements}


def direct(extras: tuple[str, ...]) -> list[Requirement]:
    """The runtime dependencies plus those of ``extras``, following ``enerlectra[...]`` self-references."""
    wanted = [Requirement(spec) for spec in PROJECT["dependencies"]]
    seen: set[str] = set()
    todo = list(extras)
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        assert extra in PROJECT["optional-dependencies"], f"pyproject.toml has no extra {extra!r}"
        for spec in PROJECT["optional-dependencies"][extra]:
            req = Requirement(spec)
            if canonicalize_name(req.name) == SELF:
                todo.extend(req.extras)
            else:
                wanted.append(req)
    return wanted


def lock(name: str) -> dict[NormalizedName, list[Pin]]:
    path = ROOT / "requirements" / f"{name}.lock"
    assert path.exists(), f"{path} is missing: run make lock"
    by_name: dict[NormalizedName, list[Pin]] = {}
    for pin in read_lock(path):
        by_name.setdefault(pin.name, []).append(pin)  # the same package may be pinned per Python version
    return by_name


@pytest.mark.parametrize(("name", "extras"), LOCKS.items())
def test_every_dependency_is_locked_at_a_version_pyproject_allows(name: str, extras: tuple[str, ...]) -> None:
    pins = lock(name)
    for req in direct(extras):
        locked = pins.get(canonicalize_name(req.name))
        assert locked, f"{req} (pyproject.toml) is not in requirements/{name}.lock: run make lock"
        for pin in locked:
            assert req.specifier.contains(pin.version, prereleases=True), (
                f"requirements/{name}.lock:{pin.line} pins {pin.name}=={pin.version}, "
                f"but pyproject.toml asks for {req}: run make lock"
            )


@pytest.mark.parametrize("name", LOCKS)
def test_every_locked_file_is_checked_by_hash(name: str) -> None:
    pins = [pin for locked in lock(name).values() for pin in locked]
    assert pins, f"requirements/{name}.lock locks nothing"
    for pin in pins:
        assert pin.hashes, f"requirements/{name}.lock:{pin.line}: {pin.name} has no --hash (pip --require-hashes)"
        assert pin.name != SELF, f"requirements/{name}.lock:{pin.line} locks the project itself"


def test_the_server_install_has_no_terminal_ui_and_no_dev_tools() -> None:
    server = lock("server")
    assert server.get(TEXTUAL) is None, "the terminal phone's UI (the sim extra) is in the server's lock"
    runtime = _names(direct(()))
    extras_only = _names(direct(tuple(PROJECT["optional-dependencies"]))) - runtime
    for name in extras_only & server.keys():
        # Allowed only when a locked runtime package needs it too (packaging, for limits).
        needed_by = {canonicalize_name(v) for pin in server[name] for v in pin.via} & server.keys()
        assert needed_by, f"{name} (a sim or dev dependency) is in requirements/server.lock, needed by nothing there"


def test_the_dev_install_can_drive_the_terminal_phone() -> None:
    assert lock("dev").get(TEXTUAL), "the test suite drives the terminal phone: dev must include the sim extra"


def test_a_package_in_two_locks_has_the_same_version_in_both() -> None:
    """Installing the dev lock over the server's (or the reverse) never moves a version."""
    locks = {name: lock(name) for name in LOCKS}
    for a, b in [("server", "sim"), ("server", "dev"), ("sim", "dev")]:
        for name in locks[a].keys() & locks[b].keys():
            versions_a = sorted(p.version for p in locks[a][name])
            versions_b = sorted(p.version for p in locks[b][name])
            assert versions_a == versions_b, f"{name}: {a}.lock has {versions_a}, {b}.lock {versions_b}"
