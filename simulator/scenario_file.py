"""Scenario files: YAML that says which phones dial what, and what each screen must show.

The format is documented in ``simulator/scenarios/README.md``. Loading checks
everything that can be checked without a server, and names the file, step and
line of any problem, so a typo fails before a single hop is sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from simulator.numbers import BadNumber, operator_named, to_e164

ACTIONS = ("dial", "reply", "choose", "cancel", "idle", "sms", "switch", "approve", "reject")
PHONE_ACTIONS = ("dial", "sms", "switch", "cancel", "approve", "reject")  # their argument is a phone alias
PROMPT_ACTIONS = ("approve", "reject")  # the mobile-money pop-up on the handset, answered
STATUSES = ("Success", "Incomplete", "Failed")
SCREEN_EXPECT = frozenset({"end", "contains", "not_contains", "regex", "status"})
SMS_EXPECT = frozenset({"contains", "not_contains", "regex"})
OPTIONAL = {
    "dial": {"code", "expect", "save", "note"},
    "reply": {"phone", "expect", "save", "note"},
    "choose": {"phone", "expect", "save", "note"},
    "cancel": {"expect", "note"},
    "idle": {"expect", "note"},
    "sms": {"expect", "save", "timeout", "note"},
    "switch": {"note"},
    "approve": {"expect", "save", "timeout", "note"},
    "reject": {"expect", "save", "timeout", "note"},
}
FRESH = "fresh"
_VAR = re.compile(r"\$\{([A-Za-z_][\w]*(?:\.[a-z]+)?)\}")
_ON_SCREEN = ("dial", "reply", "choose", "cancel", "idle", "switch")  # their expect is about the USSD screen
_LINE = "__line__"
_RAW = "__raw__"


class ScenarioError(ValueError):
    """A scenario file that cannot be run as written."""


class _LineLoader(yaml.SafeLoader):
    """Keeps the line of every mapping, so errors and reports can point at the step."""


def _mapping_with_line(loader: _LineLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping = dict(loader.construct_mapping(node, deep=True))
    mapping[_LINE] = node.start_mark.line + 1
    # Inputs are taken as written: YAML would read `reply: 00` as 0 and `reply: 1.50` as 1.5.
    mapping[_RAW] = {
        k.value: v.value for k, v in node.value if isinstance(k, yaml.ScalarNode) and isinstance(v, yaml.ScalarNode)
    }
    return mapping


def _plain(raw: dict[Any, Any]) -> dict[Any, Any]:
    return {k: v for k, v in raw.items() if k not in (_LINE, _RAW)}


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)


@dataclass(frozen=True)
class Expect:
    end: bool | None = None  # True: an END screen; False: a CON screen
    contains: tuple[str, ...] = ()
    not_contains: tuple[str, ...] = ()
    regex: tuple[str, ...] = ()
    status: str | None = None  # how the session ended, as the notification said

    @property
    def empty(self) -> bool:
        return self == Expect()


@dataclass(frozen=True)
class Step:
    number: int
    line: int
    action: str
    arg: str  # a phone alias (PHONE_ACTIONS), the input (reply, choose), seconds (idle)
    phone: str | None = None
    code: str | None = None
    expect: Expect = field(default_factory=Expect)
    save: tuple[tuple[str, str], ...] = ()
    timeout: float | None = None
    note: str = ""

    def describe(self, of: int | None = None) -> str:
        arg = f"{self.arg!r}" if self.action in ("reply", "choose") else self.arg
        where = f" on {self.phone}" if self.phone else ""
        total = f" of {of}" if of else ""
        return f"step {self.number}{total} (line {self.line}): {self.action} {arg}{where}".rstrip()


@dataclass(frozen=True)
class Scenario:
    path: Path
    name: str
    about: str
    phones: dict[str, str]  # alias -> E.164 number, "fresh", or "fresh MTN" (a fresh number on that network)
    steps: tuple[Step, ...]


def _strings(value: Any, where: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) for v in items):
        raise ScenarioError(f"{where}: expected text or a list of texts, got {value!r}")
    return tuple(items)


def _expect(raw: Any, allowed: frozenset[str], where: str) -> Expect:
    if raw is None:
        return Expect()
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: expect must be a mapping")
    raw = _plain(raw)
    unknown = set(raw) - allowed
    if unknown:
        raise ScenarioError(f"{where}: unknown expectation {sorted(unknown)} (allowed: {sorted(allowed)})")
    end = raw.get("end")
    if end is not None and not isinstance(end, bool):
        raise ScenarioError(f"{where}: end must be true or false")
    status = raw.get("status")
    if status is not None and status not in STATUSES:
        raise ScenarioError(f"{where}: status must be one of {', '.join(STATUSES)}")
    regexes = _strings(raw.get("regex", []), f"{where} regex")
    for pattern in regexes:
        try:
            re.compile(_VAR.sub("x", pattern))
        except re.error as exc:
            raise ScenarioError(f"{where}: bad regex {pattern!r}: {exc}") from None
    return Expect(
        end=end,
        contains=_strings(raw.get("contains", []), f"{where} contains"),
        not_contains=_strings(raw.get("not_contains", []), f"{where} not_contains"),
        regex=regexes,
        status=status,
    )


def _step(raw: Any, number: int, phones: dict[str, str], where: str) -> Step:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: step {number} must be a mapping like {{reply: '1'}}")
    line = int(raw.pop(_LINE, 0))
    written: dict[str, str] = raw.pop(_RAW, {})
    where = f"{where}:{line} step {number}"
    actions = [a for a in ACTIONS if a in raw]
    if len(actions) != 1:
        raise ScenarioError(f"{where}: a step has exactly one of {', '.join(ACTIONS)}; found {actions or 'none'}")
    action = actions[0]
    unknown = set(raw) - {action} - OPTIONAL[action]
    if unknown:
        raise ScenarioError(f"{where}: {action} does not take {sorted(unknown)}")
    value = raw[action]
    if action in ("reply", "choose"):
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ScenarioError(f'{where}: {action} takes the text to type, e.g. {action}: "1"')
        arg = value if isinstance(value, str) else written[action]
    elif action == "idle":
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise ScenarioError(f"{where}: idle takes a number of seconds")
        arg = str(value)
    elif action == "cancel" and value is True:
        arg = ""
    else:
        arg = str(value)
    for alias in (arg if action in PHONE_ACTIONS else "", raw.get("phone", "")):
        if alias and alias not in phones:
            raise ScenarioError(f"{where}: unknown phone {alias!r} (phones: {', '.join(phones)})")
    save = raw.get("save") or {}
    if not isinstance(save, dict):
        raise ScenarioError(f"{where}: save maps names to regexes, e.g. save: {{ref: 'Ref (\\S+)'}}")
    save = _plain(save)
    timeout = raw.get("timeout")
    if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
        raise ScenarioError(f"{where}: timeout takes a number of seconds")
    return Step(
        number=number,
        line=line,
        action=action,
        arg=arg,
        phone=raw.get("phone"),
        code=raw.get("code"),
        expect=_expect(raw.get("expect"), SCREEN_EXPECT if action in _ON_SCREEN else SMS_EXPECT, f"{where} expect"),
        save=tuple((str(k), str(v)) for k, v in save.items()),
        timeout=float(timeout) if timeout is not None else None,
        note=str(raw.get("note", "")),
    )


def _phones(raw: Any, where: str) -> dict[str, str]:
    written: dict[str, str] = raw.get(_RAW, {}) if isinstance(raw, dict) else {}
    raw = _plain(raw) if isinstance(raw, dict) else None
    if not raw:
        raise ScenarioError(f"{where}: phones must map at least one alias to a number or 'fresh'")
    phones: dict[str, str] = {}
    for alias, number in raw.items():
        if not isinstance(alias, str) or not re.fullmatch(r"[A-Za-z_]\w*", alias):
            raise ScenarioError(f"{where}: phone alias {alias!r} must be a plain name")
        if isinstance(number, str) and number.split(" ", 1)[0] == FRESH:
            phones[alias] = _fresh(number, f"{where}: phone {alias}")
            continue
        try:
            phones[alias] = to_e164(written.get(alias, str(number)))
        except BadNumber as exc:
            raise ScenarioError(f"{where}: phone {alias}: {exc} (quote numbers; or use 'fresh')") from None
    return phones


def _fresh(spec: str, where: str) -> str:
    """``fresh`` or ``fresh MTN`` (any network's, or that network's), spelt as the numbering plan does."""
    named = spec.split(" ", 1)[1].strip() if " " in spec else ""
    if not named:
        return FRESH
    operator = operator_named(named)
    if operator is None:
        raise ScenarioError(f"{where}: no fresh numbers on {named!r} (write fresh MTN, fresh Airtel or fresh Zamtel)")
    return f"{FRESH} {operator}"


def fresh_operator(spec: str) -> tuple[bool, str | None]:
    """(is it a fresh phone, on which operator's network if one is asked) for a phone's spec."""
    first, _, operator = spec.partition(" ")
    return first == FRESH, (operator or None) if first == FRESH else None


def parse_scenario(data: Any, path: Path) -> Scenario:
    where = str(path)
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: a scenario is a mapping with name, phones and steps")
    phones = _phones(data.get("phones"), where)
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps:
        raise ScenarioError(f"{where}: steps must be a non-empty list")
    parsed = tuple(_step(raw, i, phones, where) for i, raw in enumerate(steps, 1))
    _check_values(parsed, phones, where)
    return Scenario(
        path=path,
        name=str(data.get("name") or path.stem),
        about=str(data.get("about", "")).strip(),
        phones=phones,
        steps=parsed,
    )


def _check_values(steps: tuple[Step, ...], phones: dict[str, str], where: str) -> None:
    """Every ${name} must be a phone, the shortcode, or saved by an earlier step: typos fail before any hop."""
    known = {"shortcode", *phones, *(f"{a}.local" for a in phones), *(f"{a}.number" for a in phones)}
    for step in steps:
        e = step.expect
        texts = [step.arg, step.code or "", *e.contains, *e.not_contains, *e.regex, *(p for _, p in step.save)]
        for text in texts:
            for name in _VAR.findall(text):
                if name not in known:
                    raise ScenarioError(f"{where}:{step.line} step {step.number}: unknown value ${{{name}}}")
        known.update(name for name, _ in step.save)


def load_scenario(path: Path) -> Scenario:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)  # _LineLoader is a SafeLoader
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_scenario(data, path)


def substitute(text: str, values: dict[str, str], *, regex: bool = False) -> str:
    """Fill ``${name}`` from ``values``; in a regex the filled text matches literally."""

    def fill(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in values:
            raise KeyError(name)
        return re.escape(values[name]) if regex else values[name]

    return _VAR.sub(fill, text)
