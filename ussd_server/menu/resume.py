"""Which dropped session is worth offering back on the next dial, and where it resumes.

Worth it: the session was in a money flow at a screen marked ``resume: true``
in the menu file and holds something the user typed or picked there. Never at
a PIN screen: dropped on one, a resume lands on the marked screen just before
it, and every PIN-related value is dropped (a PIN being chosen, or proof that
one was checked, must never outlive its own session).
"""

from __future__ import annotations

from dataclasses import replace

from ussd_server.menu.context import PIN_VALUES
from ussd_server.menu.schema import InputScreen, PinScreen, Resumable, Screen
from ussd_server.sessions.model import Session

# Bookkeeping values that do not make a session worth resuming on their own.
_NOT_TYPED = frozenset({"attempt", "resume_id"}) | PIN_VALUES
# The validator of an input screen where a new PIN is chosen.
NEW_PIN = "new_pin"


def asks_for_pin(screen: Screen) -> bool:
    """A screen where a PIN is typed (to check it, or to choose one)."""
    return isinstance(screen, PinScreen) or (isinstance(screen, InputScreen) and screen.validator.type == NEW_PIN)


def resumable_view(old: Session, screens: dict[str, Screen]) -> Session | None:
    """``old`` as it would be resumed (state, back stack and values), or None if not worth offering."""
    trail = [*old.back, old.state]
    depth = len(trail) - 1
    # Back past the PIN screens the session stopped on, and no further: a session that stopped
    # anywhere else (the lock, hold or cap note after a PIN, say) was not cut off mid-flow.
    while depth > 0 and (pin := screens.get(trail[depth])) is not None and asks_for_pin(pin):
        depth -= 1
    screen = screens.get(trail[depth])
    if not isinstance(screen, Resumable) or not screen.resume or asks_for_pin(screen):
        return None
    values = {k: v for k, v in old.values.items() if k not in PIN_VALUES}
    if not set(values) - _NOT_TYPED:
        return None
    return replace(old, state=trail[depth], back=trail[:depth], values=values, page=0, invalid=0)
