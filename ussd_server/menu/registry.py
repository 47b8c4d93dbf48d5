"""Names a menu file may use, bound to code: actions, conditions, list sources.

The tree compiler refuses a file naming anything not registered here, so a
typo fails at start-up, not on somebody's phone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ussd_server.menu.context import Hop


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an action did: a route name ('ok' or an error code) and values to keep or show."""

    route: str = "ok"
    values: dict[str, Any] = field(default_factory=dict)
    keep: bool = True  # store values in the session (False: show them this hop only)
    goto: str | None = None  # jump straight to this screen instead of following the route


@dataclass(frozen=True, slots=True)
class Item:
    """One row of a dynamic list: the value stored when picked and the text parameters."""

    value: str
    params: dict[str, Any]


Action = Callable[["Hop"], Awaitable[Outcome]]
Condition = Callable[["Hop"], Awaitable[bool]]
Source = Callable[["Hop"], Awaitable[list[Item]]]


@dataclass
class Registry:
    actions: dict[str, Action] = field(default_factory=dict)
    conditions: dict[str, Condition] = field(default_factory=dict)
    sources: dict[str, Source] = field(default_factory=dict)

    def action(self, name: str) -> Callable[[Action], Action]:
        def register(fn: Action) -> Action:
            self.actions[name] = fn
            return fn

        return register

    def condition(self, name: str) -> Callable[[Condition], Condition]:
        def register(fn: Condition) -> Condition:
            self.conditions[name] = fn
            return fn

        return register

    def source(self, name: str) -> Callable[[Source], Source]:
        def register(fn: Source) -> Source:
            self.sources[name] = fn
            return fn

        return register
