"""One hop through a compiled menu tree: accept the newest input, move, render.

The tree's transitions machine is the only thing that moves a session between
screens (``fire``); this module decides which trigger an input means, runs
the named actions of screens that show nothing (routers, actions) within the
same hop, and renders the screen the hop lands on. Every name a screen uses is
looked up in the registry this runtime was built with (one dict access).
"""

from __future__ import annotations

from ussd_server.i18n import Catalogs
from ussd_server.menu.context import Hop
from ussd_server.menu.registry import Invalid, Item, Outcome, Registry
from ussd_server.menu.render import render, render_list
from ussd_server.menu.reply import Reply
from ussd_server.menu.resume import asks_for_pin
from ussd_server.menu.schema import (
    ActionScreen,
    ConfirmScreen,
    EndScreen,
    InputScreen,
    ListScreen,
    MenuScreen,
    Navigable,
    NoteScreen,
    PinScreen,
    RouterScreen,
    Shown,
)
from ussd_server.menu.tree import CompiledTree

BACK, HOME, MORE = "0", "00", "98"
DECLINE = "2"  # on a PIN screen with `decline`: a choice, never a PIN (PINs have 4 digits)
MAX_INVALID = 3  # invalid inputs in a row on one screen, and strikes in a session, that end it
MAX_BACK = 12
MAX_INPUT = 160  # the longest input taken (a phone sends no more); not the screen budget
_MAX_PASS_THROUGH = 16  # routers and actions chained in one hop; a loop in a tree is a bug
_PASS_THROUGH = (RouterScreen, ActionScreen)  # built once: isinstance with a tuple, not a new union per hop


class UnroutedOutcome(RuntimeError):
    pass


def check_pin_format(raw: str) -> str:
    if len(raw) != 4 or not raw.isascii() or not raw.isdigit():
        raise Invalid("err.pin_format")
    return raw


class MenuRuntime:
    def __init__(self, tree: CompiledTree, catalogs: Catalogs, registry: Registry) -> None:
        self.tree = tree
        self.catalogs = catalogs
        self.registry = registry
        self.screens = tree.screens
        self.home = tree.tree.home

    def asks_for_pin(self, state: str) -> bool:
        screen = self.screens.get(state)
        return screen is not None and asks_for_pin(screen)

    async def start(self, hop: Hop) -> Reply:
        hop.session.state = self.tree.tree.start
        return await self._arrive(hop)

    async def respond(self, hop: Hop, raw: str) -> Reply:
        """Handle the newest input on the session's current screen."""
        s = hop.session
        screen = self.screens[s.state]
        if isinstance(screen, _PASS_THROUGH):
            # A session only ever rests on a screen that shows something; one saved under an
            # older tree where this screen showed something moves on as if it had just arrived.
            return await self._arrive(hop)
        if isinstance(screen, EndScreen):
            return await self._show(hop, screen)
        if screen.nav and raw == HOME:
            s.back.clear()
            self.tree.fire(s, "home")
            return await self._arrive(hop)
        if screen.nav and raw == BACK:
            return await self._back(hop, screen)
        try:
            trigger = await self._accept(hop, screen, raw)
        except Invalid as invalid:
            if invalid.counts:
                s.invalid += 1
            if s.invalid >= MAX_INVALID:
                return self._too_many(hop)
            hop.shown.update(invalid.params)
            return await self._show(hop, screen, say=invalid.key)
        s.invalid = 0
        if trigger is None:  # another page of the same list
            return await self._show(hop, screen)
        if screen.back:
            s.back = [*s.back, s.state][-MAX_BACK:]
        self.tree.fire(s, trigger)
        return await self._arrive(hop)

    async def _back(self, hop: Hop, screen: Shown) -> Reply:
        s = hop.session
        s.invalid = 0
        if not s.back:
            return await self._show(hop, screen)
        s.state = s.back.pop()
        s.page = 0
        back_to = self.screens[s.state]
        if isinstance(back_to, _PASS_THROUGH):  # never pushed; only an older tree's session
            return await self._arrive(hop)
        return await self._show(hop, back_to)

    async def _accept(self, hop: Hop, screen: Navigable, raw: str) -> str | None:
        """The trigger ``raw`` fires on ``screen`` (None: another page of a list), or raise Invalid."""
        if len(raw) > MAX_INPUT:
            raise Invalid("err.invalid_choice")
        s = hop.session
        match screen:
            case MenuScreen():
                choice = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 2 else 0
                if not 1 <= choice <= len(screen.options):
                    raise Invalid("err.invalid_choice")
                chosen = screen.options[choice - 1].set
                s.values.update(chosen)
                if "language" in chosen:  # speak the chosen language from the next screen on
                    s.language = chosen["language"]
                return f"opt_{choice}"
            case ConfirmScreen():
                if raw not in ("1", "2"):
                    raise Invalid("err.invalid_choice")
                return "yes" if raw == "1" else "no"
            case NoteScreen():
                raise Invalid("err.invalid_choice")  # only 0 back and 00 home go on from here
            case ListScreen():
                return await self._pick(hop, screen, raw)
            case PinScreen():
                if screen.decline and raw == DECLINE:
                    return "no"
                hop.pin = check_pin_format(raw)
                return "next"
            case InputScreen():
                validate = self.registry.validators[screen.validator.type]
                s.values[screen.store] = await validate(raw, screen.validator, hop)
                return "next"

    async def _pick(self, hop: Hop, screen: ListScreen, raw: str) -> str | None:
        s = hop.session
        items = await self._items(hop, screen)
        _, window = render_list(self.catalogs, s.language, screen, hop.values(), items, s.page)
        if raw == MORE and window.has_more:
            s.page += 1
            return None
        choice = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 3 else 0
        if not screen.store or not window.start < choice <= window.stop:
            raise Invalid("err.invalid_choice")
        s.values[screen.store] = items[choice - 1].value
        s.page = 0
        return "next"

    async def _items(self, hop: Hop, screen: ListScreen) -> list[Item]:
        return await self.registry.sources[screen.source](hop)

    async def _arrive(self, hop: Hop, say: str | None = None) -> Reply:
        """Pass through routers and actions until a screen that shows something."""
        s = hop.session
        for _ in range(_MAX_PASS_THROUGH):
            screen = self.screens[s.state]
            if isinstance(screen, RouterScreen):
                for i, route in enumerate(screen.routes):
                    if route.if_ is None or await self.registry.conditions[route.if_](hop):
                        say = route.say or say
                        self.tree.fire(s, f"route_{i}")
                        break
                continue
            if isinstance(screen, ActionScreen):
                outcome = await self.registry.actions[screen.action](hop)
                self._keep(hop, outcome)
                if outcome.goto in self.screens:
                    s.state = outcome.goto or s.state
                    continue
                routes = screen.outcomes
                name = outcome.route if outcome.route in routes else "error" if "error" in routes else None
                if name is None:
                    raise UnroutedOutcome(f"screen {s.state!r} has no route for outcome {outcome.route!r}")
                if routes[name].strike:
                    s.strikes += 1
                    if s.strikes >= MAX_INVALID:
                        return self._too_many(hop)
                say = routes[name].say or say
                self.tree.fire(s, f"on_{name}")
                continue
            s.page = 0
            return await self._show(hop, screen, say=say)
        raise UnroutedOutcome(f"more than {_MAX_PASS_THROUGH} screens passed through in one hop")

    def _too_many(self, hop: Hop) -> Reply:
        hop.session.ended = True
        return Reply(hop.text("err.too_many_invalid"), end=True)

    def _keep(self, hop: Hop, outcome: Outcome) -> None:
        (hop.session.values if outcome.keep else hop.shown).update(outcome.values)

    async def _show(self, hop: Hop, screen: Shown, say: str | None = None) -> Reply:
        s = hop.session
        if screen.prepare:
            self._keep(hop, await self.registry.actions[screen.prepare](hop))
        if isinstance(screen, ListScreen):
            items = await self._items(hop, screen)
            text, window = render_list(self.catalogs, s.language, screen, hop.values(), items, s.page, say=say)
            if window.start >= len(items) and s.page:
                s.page = 0  # the list shrank under us: start again
                text, _ = render_list(self.catalogs, s.language, screen, hop.values(), items, 0, say=say)
            return Reply(text, end=False)
        text = render(self.catalogs, s.language, screen, hop.values(), say=say, is_home=s.state == self.home)
        end = isinstance(screen, EndScreen)
        if end:
            s.ended = True
        return Reply(text, end=end)
