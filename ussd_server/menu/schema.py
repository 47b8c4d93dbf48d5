"""The shape of a menu tree file, validated with pydantic at start-up."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ScreenKind = Literal["router", "menu", "list", "input", "confirm", "pin", "action", "note", "end"]
ValidatorType = Literal["name", "text", "digits", "amount", "kwh", "phone", "new_pin", "trade_price"]
# Kinds that show nothing: the runtime passes through them within one hop.
TRANSIENT_KINDS = frozenset({"router", "action"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Route(_Strict):
    to: str
    if_: str | None = Field(default=None, alias="if")  # a condition name; None = always
    say: str | None = None  # catalog key of a one-line reason shown on the target screen
    strike: bool = False  # the user's mistake: counts against the session (the third ends it)


class Option(_Strict):
    label: str
    to: str
    set: dict[str, str] = Field(default_factory=dict)


class Validator(_Strict):
    type: ValidatorType
    min: str | None = None
    max: str | None = None
    max_length: int | None = None


class Screen(_Strict):
    kind: ScreenKind
    text: str | None = None
    variants: dict[str, str] = Field(default_factory=dict)  # value flag -> text shown instead
    prepare: str | None = None  # an action run before showing the screen, for its values
    options: list[Option] = Field(default_factory=list)
    source: str | None = None
    item: str | None = None
    empty: str | None = None
    store: str | None = None
    validator: Validator | None = None
    next: str | None = None
    # confirm: where "1 Yes" and "2 No" go (not yes/no: YAML 1.1 reads those as booleans);
    # pin: `decline` is where "2" goes instead of a PIN (the screen's text says so)
    accept: str | None = None
    decline: str | None = None
    action: str | None = None
    outcomes: dict[str, Route | str] = Field(default_factory=dict)
    routes: list[Route] = Field(default_factory=list)
    nav: bool = True  # 0 back / 00 home accepted here
    back: bool = True  # this screen can be returned to with 0
    resume: bool = False  # a dropped session may be offered back here (see ussd_server/menu/resume.py)

    @model_validator(mode="after")
    def _fields_fit_the_kind(self) -> Screen:
        needs: dict[str, tuple[str, ...]] = {
            "router": ("routes",),
            "menu": ("text", "options"),
            "list": ("text", "source", "item"),
            "input": ("text", "validator", "store", "next"),
            "confirm": ("text", "accept", "decline"),
            "pin": ("text", "next"),
            "action": ("action", "outcomes"),
            "note": ("text",),
            "end": ("text",),
        }
        missing = [f for f in needs[self.kind] if not getattr(self, f)]
        if missing:
            raise ValueError(f"a {self.kind} screen needs {', '.join(missing)}")
        if self.kind == "action" and "ok" not in self.outcomes:
            raise ValueError("an action screen needs an 'ok' route")
        if self.kind == "list" and bool(self.store) != bool(self.next):
            raise ValueError("a list screen that stores a pick needs both store and next")
        if self.resume and self.kind in ("router", "action", "pin", "end"):
            raise ValueError("only a screen that collects something (not a PIN) can be resumed at")
        return self

    def outcome_routes(self) -> dict[str, Route]:
        return {k: v if isinstance(v, Route) else Route(to=v) for k, v in self.outcomes.items()}


class MenuTree(_Strict):
    tree: str
    start: str
    home: str
    screens: dict[str, Screen]
