"""Every check a merged menu tree and its catalogs must pass (also run by ``enerlectra menus lint``).

Each problem names the file and screen: unknown target screen, unreachable
screen, missing translation key in any language, static text over the screen
budget, characters outside GSM-7, a name no registered feature declares
(action, condition, list source, validator), and an action, condition or
source a feature declares but no screen uses (dead code, or a screen that
lost its reference). For a key with variants (plural forms, exact values),
every variant is checked like a text, a plural covers every category its
language needs, and a translation chooses by the same parameter as English.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

from ussd_server.gsm7 import gsm7_length, non_gsm7
from ussd_server.i18n import LANGUAGES, Catalogs, Message, Variants, placeholders, plural_categories, variants
from ussd_server.menu.registry import NameKind, Registry
from ussd_server.menu.render import option_labels, shows_nav
from ussd_server.menu.reply import PREFIX_LENGTH, SCREEN_LIMIT
from ussd_server.menu.schema import (
    ActionScreen,
    InputScreen,
    ListScreen,
    MenuTree,
    RouterScreen,
    Screen,
    Shown,
)
from ussd_server.menu.tree import exits

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
# Validators are a shared vocabulary of input types (digits, amount, ...): one no screen uses yet is
# not dead code. Actions, conditions and sources exist only for the screens that name them.
MUST_BE_USED: tuple[NameKind, ...] = ("action", "condition", "source")


def text_keys(screen: Screen) -> list[str]:
    """Every catalog key a screen can show, its reasons (``say``) included."""
    if isinstance(screen, RouterScreen):
        return [r.say for r in screen.routes if r.say]
    if isinstance(screen, ActionScreen):
        return [r.say for r in screen.outcomes.values() if r.say]
    keys = [screen.text]
    if isinstance(screen, ListScreen):
        keys += [screen.item] + ([screen.empty] if screen.empty else [])
    return keys + list(screen.variants.values()) + option_labels(screen)


def names_used(screen: Screen) -> list[tuple[NameKind, str]]:
    """The registry names a screen refers to."""
    if isinstance(screen, RouterScreen):
        return [("condition", r.if_) for r in screen.routes if r.if_]
    if isinstance(screen, ActionScreen):
        return [("action", screen.action)]
    used: list[tuple[NameKind, str]] = [("action", screen.prepare)] if screen.prepare else []
    if isinstance(screen, ListScreen):
        used.append(("source", screen.source))
    elif isinstance(screen, InputScreen):
        used.append(("validator", screen.validator.type))
    return used


def check(
    tree: MenuTree, catalogs: Catalogs, registry: Registry, origins: Mapping[str, str], home_file: str
) -> list[str]:
    """Every problem of ``tree``; ``origins`` maps each screen to the file it was written in."""
    problems: list[str] = []

    def bad(screen: str, message: str) -> None:
        problems.append(f"{origins.get(screen, home_file)}: screen {screen!r}: {message}")

    names = set(tree.screens)
    for special in ("start", "home"):
        if getattr(tree, special) not in names:
            problems.append(f"{home_file}: {special} screen {getattr(tree, special)!r} does not exist")
    used: set[tuple[NameKind, str]] = set()
    for name, screen in tree.screens.items():
        for trigger, target in exits(screen):
            if target not in names:
                bad(name, f"unknown target screen {target!r} ({trigger})")
        for kind, ref in names_used(screen):
            used.add((kind, ref))
            if ref not in registry.declared(kind):
                bad(name, f"unknown {'list source' if kind == 'source' else kind} {ref!r}")
        for key in text_keys(screen):
            for lang in LANGUAGES:
                if not catalogs.has(key, lang):
                    bad(name, f"missing translation {key!r} in {lang}")
        if not isinstance(screen, RouterScreen | ActionScreen | ListScreen):
            problems += [f"{origins.get(name, home_file)}: screen {name!r}: {p}" for p in _budget(screen, catalogs)]
    for kind in MUST_BE_USED:
        for ref in registry.declared(kind):
            if (kind, ref) not in used:
                owner = registry.owners.get((kind, ref), "?")
                problems.append(f"feature {owner!r}: {kind} {ref!r} is declared but no screen uses it")

    for name in sorted(names - _reachable(tree)):
        bad(name, "unreachable from the start screen")
    for key in RUNTIME_KEYS:
        for lang in LANGUAGES:
            if not catalogs.has(key, lang):
                problems.append(f"{home_file}: runtime text {key!r} missing in {lang}")
    return problems + catalog_problems(catalogs)


def catalog_problems(catalogs: Catalogs) -> list[str]:
    """Characters outside GSM-7, variants that do not fit their language, keys not in every catalog."""
    problems: list[str] = []
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


def _budget(screen: Shown, catalogs: Catalogs) -> list[str]:
    """Static screens must fit as they are; nav hints and option lines included."""
    found = []
    for lang in LANGUAGES:
        if not all(catalogs.has(k, lang) for k in text_keys(screen)):
            continue
        # Option and navigation lines at their longest variant: whichever is shown must fit.
        rest = [f"{i} {_longest(catalogs, lang, label)}" for i, label in enumerate(option_labels(screen), 1)]
        if shows_nav(screen):
            rest.append(_longest(catalogs, lang, "nav.back_home") if catalogs.has("nav.back_home", lang) else "")
        plain = isinstance(catalogs.message(lang, screen.text), str)
        for variant, body in catalogs.variants(lang, screen.text).items():
            if placeholders(body):
                continue  # dynamic: the runtime fits it, and the e2e tests measure it
            size = gsm7_length("\n".join([body, *rest])) + PREFIX_LENGTH
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
        screen = tree.screens.get(queue.popleft())
        if screen is None:
            continue
        for _, target in exits(screen):
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen
