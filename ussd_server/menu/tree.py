"""Load, check and compile a menu tree.

Checks (also run by ``enerlectra menus lint``), each naming file and screen:
unknown target screen, unreachable screen, missing translation key in any
language, static text over the screen budget, characters outside GSM-7,
unknown action / condition / source name; for a key with variants (plural
forms, exact values), every variant is checked like a text, a plural covers
every category its language needs, and a translation chooses by the same
parameter as English. Schema errors (unknown screen kind or validator type,
missing fields) come from pydantic with the same naming.

The tree compiles once into ``transitions.Machine(model=None,
auto_transitions=False)``: screens are states, and every way out of a screen
is a named trigger (``opt_2``, ``next``, ``on_wrong_pin``, ``route_0``,
``home``). A hop restores the session's state and fires one trigger.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from transitions import Machine

from ussd_server.gsm7 import SCREEN_LIMIT, gsm7_length, non_gsm7
from ussd_server.i18n import LANGUAGES, Catalogs, Message, Variants, placeholders, plural_categories, variants
from ussd_server.menu.registry import Registry
from ussd_server.menu.schema import TRANSIENT_KINDS, MenuTree, Screen

logging.getLogger("transitions").setLevel(logging.WARNING)  # INFO logging triples a trigger's cost

REPLY_PREFIX = len("CON ")
# Keys the runtime itself shows on any screen.
RUNTIME_KEYS = (
    "nav.back_home",
    "nav.more",
    "err.invalid_choice",
    "err.too_many_invalid",
    "err.busy",
    "err.sorry",
    "err.unknown_service",
    "err.not_zambian",
    "err.session_mismatch",
)


class MenuError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("menu tree is invalid:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class CompiledTree:
    source: str
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


def exits(name: str, screen: Screen) -> list[tuple[str, str]]:
    """Every (trigger, target) leaving a screen."""
    out: list[tuple[str, str]] = []
    out += [(f"opt_{i}", o.to) for i, o in enumerate(screen.options, 1)]
    if screen.next:
        out.append(("next", screen.next))
    if screen.accept and screen.decline:
        out += [("yes", screen.accept), ("no", screen.decline)]
    elif screen.kind == "pin" and screen.decline:
        out.append(("no", screen.decline))
    out += [(f"on_{code}", route.to) for code, route in screen.outcome_routes().items()]
    out += [(f"route_{i}", r.to) for i, r in enumerate(screen.routes)]
    return out


def text_keys(screen: Screen) -> list[str]:
    keys = [k for k in (screen.text, screen.item, screen.empty) if k] + list(screen.variants.values())
    keys += [o.label for o in screen.options]
    if screen.kind == "confirm":
        keys += ["opt.yes", "opt.no"]
    keys += [r.say for r in screen.outcome_routes().values() if r.say]
    keys += [r.say for r in screen.routes if r.say]
    return keys


def check(tree: MenuTree, catalogs: Catalogs, registry: Registry, where: str) -> list[str]:
    problems: list[str] = []

    def bad(screen: str, message: str) -> None:
        problems.append(f"{where}: screen {screen!r}: {message}")

    names = set(tree.screens)
    for special in ("start", "home"):
        if getattr(tree, special) not in names:
            problems.append(f"{where}: {special} screen {getattr(tree, special)!r} does not exist")
    for name, screen in tree.screens.items():
        for trigger, target in exits(name, screen):
            if target not in names:
                bad(name, f"unknown target screen {target!r} ({trigger})")
        for action in (screen.action, screen.prepare):
            if action and action not in registry.actions:
                bad(name, f"unknown action {action!r}")
        if screen.source and screen.source not in registry.sources:
            bad(name, f"unknown list source {screen.source!r}")
        for route in screen.routes:
            if route.if_ and route.if_ not in registry.conditions:
                bad(name, f"unknown condition {route.if_!r}")
        for key in text_keys(screen):
            for lang in LANGUAGES:
                if not catalogs.has(key, lang):
                    bad(name, f"missing translation {key!r} in {lang}")
        problems += [f"{where}: screen {name!r}: {p}" for p in _budget(screen, catalogs)]

    reachable = _reachable(tree)
    for name in sorted(names - reachable):
        bad(name, "unreachable from the start screen")
    for key in RUNTIME_KEYS:
        for lang in LANGUAGES:
            if not catalogs.has(key, lang):
                problems.append(f"{where}: runtime text {key!r} missing in {lang}")
    for lang, table in catalogs.messages.items():
        for key, message in table.items():
            odd = set().union(*(non_gsm7(text) for text in variants(message).values()))
            if odd:
                problems.append(f"locales/{lang}.yaml: {key!r}: characters outside GSM-7: {''.join(sorted(odd))!r}")
            if isinstance(message, Variants):
                english = catalogs.messages["en"].get(key) if lang != "en" else None
                problems += [f"locales/{lang}.yaml: {key!r}: {p}" for p in _variant_problems(message, english)]
        extra = set(table) - set(catalogs.messages["en"])
        missing = set(catalogs.messages["en"]) - set(table)
        for key in sorted(missing):
            problems.append(f"locales/{lang}.yaml: missing key {key!r} (present in en.yaml)")
        for key in sorted(extra):
            problems.append(f"locales/{lang}.yaml: key {key!r} not in en.yaml")
    return problems


def _budget(screen: Screen, catalogs: Catalogs) -> list[str]:
    """Static screens must fit as they are; nav hints and option lines included."""
    if screen.kind in TRANSIENT_KINDS or screen.kind == "list" or not screen.text:
        return []
    found = []
    for lang in LANGUAGES:
        if not all(catalogs.has(k, lang) for k in text_keys(screen)):
            continue
        labels = [o.label for o in screen.options] or (["opt.yes", "opt.no"] if screen.kind == "confirm" else [])
        # Option and navigation lines at their longest variant: whichever is shown must fit.
        rest = [f"{i} {_longest(catalogs, lang, label)}" for i, label in enumerate(labels, 1)]
        if screen.nav and screen.kind != "end":
            rest.append(_longest(catalogs, lang, "nav.back_home") if catalogs.has("nav.back_home", lang) else "")
        plain = isinstance(catalogs.message(lang, screen.text), str)
        for variant, body in catalogs.variants(lang, screen.text).items():
            if placeholders(body):
                continue  # dynamic: the runtime fits it, and the e2e tests measure it
            size = gsm7_length("\n".join([body, *rest])) + REPLY_PREFIX
            if size > SCREEN_LIMIT:
                which = "" if plain else f" (variant {variant!r})"
                found.append(f"static text over budget in {lang}{which}: {size} > {SCREEN_LIMIT} characters")
    return found


def _longest(catalogs: Catalogs, lang: str, key: str) -> str:
    return max(catalogs.variants(lang, key).values(), key=gsm7_length)


def _variant_problems(message: Variants, english: Message | None) -> list[str]:
    """Plural texts cover their language's categories; a translation chooses by English's parameter."""
    found = []
    categories = plural_categories(message.language)
    # Choosing between exact values and "other" alone ("0": no fee, other: the fee) is not a
    # plural; naming a category, or showing the count as a bare number, is: then the grammar
    # of every category the language has must be written out.
    shows_count = any(
        name == message.count and kind is None for text in message.forms.values() for name, kind in placeholders(text)
    )
    missing = [c for c in categories if c not in message.forms]
    if missing and (shows_count or set(message.forms) != {"other"}):
        found.append(
            f"plural texts need every category of {message.language} ({', '.join(categories)}): "
            f"missing {', '.join(missing)}"
        )
    # A translator's typo in count: would silently always show "other".
    if isinstance(english, Variants) and english.count != message.count:
        found.append(f"chooses by {message.count!r} but en.yaml by {english.count!r}")
    elif isinstance(english, str) and message.count not in {name for name, _ in placeholders(english)}:
        found.append(f"chooses by {message.count!r}, a parameter en.yaml's text does not have")
    return found


def _reachable(tree: MenuTree) -> set[str]:
    seen = {tree.start, tree.home}
    queue = deque(seen)
    while queue:
        name = queue.popleft()
        screen = tree.screens.get(name)
        if screen is None:
            continue
        for _, target in exits(name, screen):
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def compile_machine(tree: MenuTree) -> Machine:
    names = list(tree.screens)
    machine = Machine(model=None, states=names, initial=tree.start, auto_transitions=False)
    for name, screen in tree.screens.items():
        for trigger, target in exits(name, screen):
            machine.add_transition(trigger, name, target)
    # "00" re-enters through the start router: home for members, registration for others.
    machine.add_transition("home", [n for n in names if n != tree.start], tree.start)
    return machine


def load_tree(path: Path, catalogs: Catalogs, registry: Registry) -> CompiledTree:
    """Parse, check and compile ``path``; raises :class:`MenuError` listing every problem."""
    where = f"menus/{path.name}"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        tree = MenuTree.model_validate(raw)
    except yaml.YAMLError as exc:
        raise MenuError([f"{where}: not valid YAML: {exc}"]) from None
    except ValidationError as exc:
        raise MenuError([_pydantic_problem(where, e) for e in exc.errors()]) from None
    problems = check(tree, catalogs, registry, where)
    if problems:
        raise MenuError(problems)
    return CompiledTree(where, tree, compile_machine(tree))


def _pydantic_problem(where: str, error: Any) -> str:
    loc = [str(p) for p in error["loc"]]
    if len(loc) >= 2 and loc[0] == "screens":
        return f"{where}: screen {loc[1]!r}: {'.'.join(loc[2:]) or 'screen'}: {error['msg']}"
    return f"{where}: {'.'.join(loc)}: {error['msg']}"


def mermaid(tree: MenuTree) -> str:
    """A Mermaid flowchart of the tree, for the docs."""
    ids = {name: f"s{i}" for i, name in enumerate(tree.screens)}
    lines = ["flowchart TD"]
    for name, screen in tree.screens.items():
        shape = ("{{", "}}") if screen.kind in TRANSIENT_KINDS else ("([", "])") if screen.kind == "end" else ("[", "]")
        lines.append(f'    {ids[name]}{shape[0]}"{name}"{shape[1]}')
    for name, screen in tree.screens.items():
        for trigger, target in exits(name, screen):
            if target in ids:
                lines.append(f"    {ids[name]} -->|{trigger}| {ids[target]}")
    return "\n".join(lines)
