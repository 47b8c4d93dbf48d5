"""Driving the simulator's TUI with Textual's Pilot, shared by the TUI and MoMo-prompt tests."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from textual.pilot import Pilot
from textual.widgets import Static

from simulator.target import Target
from simulator.tui import SimulatorApp

WAIT_S = 15.0  # how long a step may take before a test gives up (a bound, not something measured)


def keep_open(target: Target) -> Callable[[], AbstractAsyncContextManager[Target]]:
    """The app's opener, lending it the test's target (the test closes it)."""

    @asynccontextmanager
    async def opener() -> AsyncIterator[Target]:
        yield target

    return opener


async def until(pilot: Pilot[int], condition: Callable[[], bool], what: str, within: float = WAIT_S) -> None:
    deadline = time.monotonic() + within
    while not condition():
        app = pilot.app
        screen = app.display_text() if isinstance(app, SimulatorApp) else ""
        assert time.monotonic() < deadline, f"waited {within} s for {what}; screen:\n{screen}"
        await pilot.pause(0.05)


async def type_in(pilot: Pilot[int], *answers: str, within: float = WAIT_S) -> None:
    """Type each answer and press Enter, waiting for its reply to be on the display in between."""
    app = pilot.app
    assert isinstance(app, SimulatorApp)
    for answer in answers:
        before = progress(app)

        def answered(before: tuple[str, int] = before) -> bool:
            # The hop counter moves when the request is sent, not when the reply lands; the
            # app's hop worker finishing is what says the reply (and the session's end) is drawn.
            return progress(app) != before and not hop_in_flight(app)

        await pilot.press(*answer, "enter")
        await until(pilot, answered, f"the reply to {answer!r}", within)


def progress(app: SimulatorApp) -> tuple[str, int]:
    """Which session the phone in hand is on and how many hops it made (a dial starts a new one)."""
    session = app.phones.current.session
    return (session.session_id, session.hops) if session else ("", 0)


def hop_in_flight(app: SimulatorApp) -> bool:
    return any(worker.group == "hop" and not worker.is_finished for worker in app.workers)


def inbox_panel(app: SimulatorApp) -> str:
    return str(app.query_one("#messages", Static).content)
