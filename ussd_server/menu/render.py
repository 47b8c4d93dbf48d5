"""Turn a screen and its values into reply text that fits a feature phone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ussd_server.gsm7 import fit, gsm7_length, to_gsm7
from ussd_server.i18n import Catalogs
from ussd_server.menu.registry import Item
from ussd_server.menu.reply import TEXT_BUDGET
from ussd_server.menu.schema import ConfirmScreen, EndScreen, ListScreen, MenuScreen, Shown

CONFIRM_LABELS = ("opt.yes", "opt.no")  # a confirm screen's two options, in this order


@dataclass(frozen=True, slots=True)
class Page:
    """The slice of a list shown on one screen; numbers are global (1-based)."""

    start: int
    stop: int
    has_more: bool


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    # Text from people and the database (names) is folded into GSM-7 before display.
    return {k: to_gsm7(v) if isinstance(v, str) else v for k, v in values.items()}


def screen_text_key(screen: Shown, values: dict[str, Any]) -> str:
    for flag, key in screen.variants.items():
        if values.get(flag):
            return key
    return screen.text


def option_labels(screen: Shown) -> list[str]:
    """The catalog keys of a screen's numbered lines, in order."""
    if isinstance(screen, MenuScreen):
        return [o.label for o in screen.options]
    if isinstance(screen, ConfirmScreen):
        return list(CONFIRM_LABELS)
    return []


def shows_nav(screen: Shown, is_home: bool = False) -> bool:
    """Whether the "0 Back 00 Home" line is shown: never on the home screen or an END."""
    return not isinstance(screen, EndScreen) and screen.nav and not is_home


def _nav(catalogs: Catalogs, lang: str, screen: Shown, is_home: bool) -> list[str]:
    return [catalogs.text(lang, "nav.back_home")] if shows_nav(screen, is_home) else []


def render(
    catalogs: Catalogs,
    lang: str,
    screen: Shown,
    values: dict[str, Any],
    *,
    say: str | None = None,
    is_home: bool = False,
) -> str:
    """A menu, input, confirm, PIN, note or end screen: optional reason line, text, options, navigation."""
    shown = _clean(values)
    lines = [catalogs.render(lang, say, shown)] if say else []
    lines.append(catalogs.render(lang, screen_text_key(screen, shown), shown))
    lines += [f"{i} {catalogs.render(lang, label, shown)}" for i, label in enumerate(option_labels(screen), 1)]
    lines += _nav(catalogs, lang, screen, is_home)
    return fit("\n".join(lines), TEXT_BUDGET)


def paginate(lines: list[str], fixed: int, more: int, page: int) -> Page:
    """Greedy pages: as many item lines as fit next to the fixed lines and a "more" line."""
    start = 0
    for _ in range(page + 1):
        used, stop = fixed, start
        while stop < len(lines):
            need = gsm7_length(lines[stop]) + 1
            room = TEXT_BUDGET - (more + 1 if stop + 1 < len(lines) else 0)
            if used + need > room and stop > start:
                break
            used += need
            stop += 1
        if _ == page or stop >= len(lines):
            return Page(start, stop, stop < len(lines))
        start = stop
    return Page(start, start, False)


def render_list(
    catalogs: Catalogs,
    lang: str,
    screen: ListScreen,
    values: dict[str, Any],
    items: list[Item],
    page: int,
    *,
    say: str | None = None,
) -> tuple[str, Page]:
    shown = _clean(values)
    if not items:
        head = [catalogs.render(lang, say, shown)] if say else []
        head.append(catalogs.render(lang, screen.empty or screen_text_key(screen, shown), shown))
        return fit("\n".join(head + _nav(catalogs, lang, screen, False)), TEXT_BUDGET), Page(0, 0, False)
    # A reason (say) takes the title's place rather than a line of its own, so a list
    # keeps the same pages after an invalid choice and the numbers people saw stay put.
    title = catalogs.render(lang, screen_text_key(screen, shown), shown)
    head = [catalogs.render(lang, say, shown) if say else title]
    # Only lists you pick from are numbered; a statement is just read.
    lines = [
        f"{f'{i} ' if screen.store else ''}{catalogs.render(lang, screen.item, _clean(item.params))}"
        for i, item in enumerate(items, 1)
    ]
    nav = _nav(catalogs, lang, screen, False)
    fixed = sum(gsm7_length(x) + 1 for x in [title, *nav])
    more = gsm7_length(catalogs.text(lang, "nav.more"))
    window = paginate(lines, fixed, more, page)
    body = head + lines[window.start : window.stop]
    if window.has_more:
        body.append(catalogs.text(lang, "nav.more"))
    return fit("\n".join(body + nav), TEXT_BUDGET), window
