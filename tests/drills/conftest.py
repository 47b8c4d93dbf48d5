"""Drill fixtures: a report row per drill, printed as a table at the end of the run.

Each drill records what load it held, which faults it injected and what came
out, before it asserts, so a failing drill still shows its row.

Every drill is marked ``drill`` (``pytest -m drill`` runs just them; a plain
``pytest`` runs them too) and starts its own redis-server and ``enerlectra
serve`` processes. Nothing is skipped: without redis-server a drill fails,
like the rest of the suite without its services.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

_ROWS = pytest.StashKey[list[tuple[str, str, str, str]]]()
Report = Callable[..., None]


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Report:
    """``report(load=..., faults=..., result=...)``: one row of the drill table."""
    rows = request.config.stash.setdefault(_ROWS, [])

    def add(*, load: str, faults: str, result: str) -> None:
        rows.append((request.node.name, load, faults, result))

    return add


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
    rows = config.stash.get(_ROWS, None)
    if not rows:
        return
    terminalreporter.section("reliability drills: load held, faults injected, result")
    for name, load, faults, result in rows:
        terminalreporter.write_line(f"{name}\n    load:   {load}\n    faults: {faults}\n    result: {result}")
