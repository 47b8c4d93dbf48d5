"""A checked menu tree compiled to a transitions machine, and the ways out of each screen.

The tree compiles once into ``transitions.Machine(model=None,
auto_transitions=False)``: screens are states, and every way out of a screen
is a named trigger (``opt_2``, ``next``, ``on_wrong_pin``, ``route_0``,
``home``). A hop restores the session's state and fires one trigger.
Reading and checking the files: ``ussd_server/menu/loader.py`` and ``lint.py``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from transitions import Machine

from ussd_server.menu.schema import (
    ActionScreen,
    ConfirmScreen,
    EndScreen,
    InputScreen,
    ListScreen,
    MenuScreen,
    MenuTree,
    NoteScreen,
    PinScreen,
    RouterScreen,
    Screen,
)

logging.getLogger("transitions").setLevel(logging.WARNING)  # INFO logging triples a trigger's cost


class MenuError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("menu tree is invalid:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class CompiledTree:
    files: tuple[str, ...]  # as named in problems: menus/home.yaml, menus/features/buy.yaml, ...
    tree: MenuTree
    machine: Machine

    @property
    def screens(self) -> dict[str, Screen]:
        return self.tree.screens

    def target(self, state: str, trigger: str) -> str | None:
        event = self.machine.events.get(trigger)
        if event is None or state not in event.transitions:
            return None
        return str(event.transitions[state][0].dest)

    def fire(self, model: Any, trigger: str) -> None:
        """Move ``model.state`` along ``trigger``; the caller checked it exists."""
        self.machine.events[trigger].trigger(model)


def exits(screen: Screen) -> list[tuple[str, str]]:
    """Every (trigger, target) leaving a screen."""
    match screen:
        case MenuScreen():
            return [(f"opt_{i}", o.to) for i, o in enumerate(screen.options, 1)]
        case ListScreen():
            return [("next", screen.next)] if screen.next else []
        case InputScreen():
            return [("next", screen.next)]
        case ConfirmScreen():
            return [("yes", screen.accept), ("no", screen.decline)]
        case PinScreen():
            return [("next", screen.next)] + ([("no", screen.decline)] if screen.decline else [])
        case ActionScreen():
            return [(f"on_{code}", route.to) for code, route in screen.outcomes.items()]
        case RouterScreen():
            return [(f"route_{i}", r.to) for i, r in enumerate(screen.routes)]
        case NoteScreen() | EndScreen():
            return []


def compile_machine(tree: MenuTree) -> Machine:
    names = list(tree.screens)
    machine = Machine(model=None, states=names, initial=tree.start, auto_transitions=False)
    for name, screen in tree.screens.items():
        for trigger, target in exits(screen):
            machine.add_transition(trigger, name, target)
    # "00" re-enters through the start router: home for members, registration for others.
    machine.add_transition("home", [n for n in names if n != tree.start], tree.start)
    return machine


def mermaid(tree: MenuTree) -> str:
    """A Mermaid flowchart of the tree, for the docs."""
    ids = {name: f"s{i}" for i, name in enumerate(tree.screens)}
    lines = ["flowchart TD"]
    for name, screen in tree.screens.items():
        if isinstance(screen, RouterScreen | ActionScreen):
            shape = ("{{", "}}")
        elif isinstance(screen, EndScreen):
            shape = ("([", "])")
        else:
            shape = ("[", "]")
        lines.append(f'    {ids[name]}{shape[0]}"{name}"{shape[1]}')
    for name, screen in tree.screens.items():
        for trigger, target in exits(screen):
            if target in ids:
                lines.append(f"    {ids[name]} -->|{trigger}| {ids[target]}")
    return "\n".join(lines)
