"""The shape of a menu tree file, validated with pydantic at start-up.

A screen is one model per ``kind`` (a discriminated union): each carries
exactly the fields its kind needs, required where the kind cannot work
without them, so a missing ``store`` on an input screen is a start-up error
naming the file and screen, and the runtime dispatches on the type with
nothing left to assert.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# A name or catalog key that must be written out (an empty string is as good as missing).
Name = Annotated[str, Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Route(_Strict):
    to: Name
    if_: str | None = Field(default=None, alias="if")  # a condition name; None = always
    say: str | None = None  # catalog key of a one-line reason shown on the target screen
    strike: bool = False  # the user's mistake: counts against the session (the third ends it)


class Option(_Strict):
    label: Name
    to: Name
    set: dict[str, str] = Field(default_factory=dict)


class Validator(_Strict):
    type: Name  # a validator declared by a feature (the lint checks the name)
    min: str | None = None
    max: str | None = None
    max_length: int | None = None


# --- screens that show nothing: the runtime passes through them within one hop --------------


class RouterScreen(_Strict):
    """Routes at once on the first route whose condition holds."""

    kind: Literal["router"]
    routes: list[Route] = Field(min_length=1)


class ActionScreen(_Strict):
    """Runs a named action and routes on its outcome code."""

    kind: Literal["action"]
    action: Name
    outcomes: dict[str, Route]  # outcome code -> where it goes ("ok" required, "error" a catch-all)

    @field_validator("outcomes", mode="before")
    @classmethod
    def _short_routes(cls, value: object) -> object:
        # `ok: home` is short for `ok: {to: home}`; made a Route once here, not on every hop.
        if isinstance(value, dict):
            return {k: {"to": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _needs_ok(self) -> ActionScreen:
        if "ok" not in self.outcomes:
            raise ValueError("an action screen needs an 'ok' route")
        return self


# --- screens the phone shows -----------------------------------------------------------------


class _Shown(_Strict):
    text: Name  # catalog key
    variants: dict[str, str] = Field(default_factory=dict)  # value flag -> text key shown instead
    prepare: str | None = None  # an action run before showing the screen, for its values


class _Navigable(_Shown):
    nav: bool = True  # 0 back / 00 home accepted here
    back: bool = True  # this screen can be returned to with 0


class MenuScreen(_Navigable):
    """Numbered options; a chosen option may set session values."""

    kind: Literal["menu"]
    options: list[Option] = Field(min_length=1)
    resume: bool = False  # a dropped session may be offered back here (see ussd_server/menu/resume.py)


class ListScreen(_Navigable):
    """A paged list from a named source; with ``store`` and ``next`` the pick is stored, else it is read."""

    kind: Literal["list"]
    source: Name
    item: Name  # catalog key of one row
    empty: str | None = None  # catalog key shown when the source has nothing
    store: str | None = None
    next: str | None = None
    resume: bool = False

    @model_validator(mode="after")
    def _store_with_next(self) -> ListScreen:
        if bool(self.store) != bool(self.next):
            raise ValueError("a list screen that stores a pick needs both store and next")
        return self


class InputScreen(_Navigable):
    """Free input checked by a named validator, stored, then ``next``."""

    kind: Literal["input"]
    validator: Validator
    store: Name
    next: Name
    resume: bool = False


class ConfirmScreen(_Navigable):
    """A summary, then "1 Yes" (``accept``) or "2 No" (``decline``)."""

    kind: Literal["confirm"]
    # Not yes/no: YAML 1.1 reads those as booleans.
    accept: Name
    decline: Name
    resume: bool = False


class PinScreen(_Navigable):
    """A PIN, kept for this hop only and never stored; with ``decline``, "2" goes there instead."""

    kind: Literal["pin"]
    next: Name
    decline: str | None = None


class NoteScreen(_Navigable):
    """A text to read; only 0 back and 00 home go on from it."""

    kind: Literal["note"]


class EndScreen(_Shown):
    """The last screen (END): nothing goes on from it, so it has no navigation."""

    kind: Literal["end"]


Screen = Annotated[
    RouterScreen
    | ActionScreen
    | MenuScreen
    | ListScreen
    | InputScreen
    | ConfirmScreen
    | PinScreen
    | NoteScreen
    | EndScreen,
    Field(discriminator="kind"),
]
PassThrough = RouterScreen | ActionScreen
Shown = MenuScreen | ListScreen | InputScreen | ConfirmScreen | PinScreen | NoteScreen | EndScreen
Navigable = MenuScreen | ListScreen | InputScreen | ConfirmScreen | PinScreen | NoteScreen
# Screens where something is chosen or typed: the only ones `resume: true` may mark.
Resumable = MenuScreen | ListScreen | InputScreen | ConfirmScreen


class MenuFile(_Strict):
    """One YAML file of the tree: the home file names the tree and its start and home screens."""

    tree: str | None = None
    start: str | None = None
    home: str | None = None
    screens: dict[str, Screen] = Field(default_factory=dict)


class MenuTree(_Strict):
    """Every file merged: the screens of the whole tree."""

    tree: str
    start: str
    home: str
    screens: dict[str, Screen]
