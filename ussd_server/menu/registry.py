"""Names a menu file may use, bound to code: what a feature declares and the registry built from them.

A feature module (``ussd_server/menu/features/``) declares one :class:`Feature`
holding its actions, conditions, list sources and input validators by the name
the YAML uses. Nothing registers itself on import: ``build_runtime()`` passes
an explicit list of features to :meth:`Registry.of`, which refuses a name
declared twice, so two features can never silently replace each other's code.
The tree lint refuses a file naming anything not in the registry, so a typo
fails at start-up, not on somebody's phone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from ussd_server.menu.context import Hop
    from ussd_server.menu.schema import Validator


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


class Invalid(Exception):
    """Typed input that a screen refuses; ``key`` is the one-line reason's catalog key."""

    def __init__(self, key: str, *, counts: bool = True, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.counts = counts  # False when the fault is ours (busy): it must not end their session
        self.params = params


Value = str | int
Action = Callable[["Hop"], Awaitable[Outcome]]
Condition = Callable[["Hop"], Awaitable[bool]]
Source = Callable[["Hop"], Awaitable[list[Item]]]
# Turns what was typed into the value stored, or raises Invalid saying why not.
ValidatorFn = Callable[[str, "Validator", "Hop"], Awaitable[Value]]
NameKind = Literal["action", "condition", "source", "validator"]


@dataclass(frozen=True, slots=True)
class Feature:
    """One menu feature's names, as its YAML uses them (``action:``/``prepare:``, ``if:``, ``source:``,
    ``validator: {type: ...}``)."""

    name: str
    actions: Mapping[str, Action] = field(default_factory=dict)
    conditions: Mapping[str, Condition] = field(default_factory=dict)
    sources: Mapping[str, Source] = field(default_factory=dict)
    validators: Mapping[str, ValidatorFn] = field(default_factory=dict)


class DuplicateName(ValueError):
    """Two features (or one feature twice) declare the same name: refused when the app is built."""


_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Registry:
    """Every feature's names in one place, looked up by the runtime with one dict access each."""

    actions: Mapping[str, Action]
    conditions: Mapping[str, Condition]
    sources: Mapping[str, Source]
    validators: Mapping[str, ValidatorFn]
    owners: Mapping[tuple[NameKind, str], str]  # (kind, name) -> the feature that declares it

    @classmethod
    def of(cls, features: Iterable[Feature]) -> Registry:
        """The registry of ``features``; raises :class:`DuplicateName` naming both declarers of a name."""
        actions: dict[str, Action] = {}
        conditions: dict[str, Condition] = {}
        sources: dict[str, Source] = {}
        validators: dict[str, ValidatorFn] = {}
        owners: dict[tuple[NameKind, str], str] = {}
        seen: set[str] = set()
        for feature in features:
            if feature.name in seen:
                raise DuplicateName(f"feature {feature.name!r} is registered twice")
            seen.add(feature.name)
            _merge("action", feature, feature.actions, actions, owners)
            _merge("condition", feature, feature.conditions, conditions, owners)
            _merge("source", feature, feature.sources, sources, owners)
            _merge("validator", feature, feature.validators, validators, owners)
        return cls(actions, conditions, sources, validators, owners)

    def declared(self, kind: NameKind) -> Mapping[str, object]:
        tables: dict[NameKind, Mapping[str, object]] = {
            "action": self.actions,
            "condition": self.conditions,
            "source": self.sources,
            "validator": self.validators,
        }
        return tables[kind]


def _merge(
    kind: NameKind,
    feature: Feature,
    declared: Mapping[str, _T],
    into: dict[str, _T],
    owners: dict[tuple[NameKind, str], str],
) -> None:
    for name, fn in declared.items():
        other = owners.get((kind, name))
        if other is not None:
            raise DuplicateName(f"{kind} {name!r} is declared by feature {other!r} and again by {feature.name!r}")
        owners[(kind, name)] = feature.name
        into[name] = fn
