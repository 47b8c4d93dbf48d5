"""Fault control: rules matched per call, and seeded chaos ratios for everything no rule covers.

A rule names the calls it matches (``provider``, ``kind``, ``msisdn``,
``external_id``, ``amount``) and one effect, for at most ``times`` calls:

- on a submit: ``outcome`` (``succeed``, ``fail`` with a ``reason``, ``expire``),
  ``delay_ms`` before the outcome (with no ``outcome``: a collection is
  approved, a disbursement settles, after that delay), ``callback``
  (``lose``, ``twice``, ``late``: the transaction expires, then a
  SUCCESSFUL-looking callback follows ``late_callback_ms`` after the real one),
  and ``submit`` (``409``, ``500``, ``500_recorded``, ``hang``,
  ``hang_unrecorded``, ``reject`` with a ``reason``);
- on a status GET: ``status`` (``500`` or ``hang``).

The first rule (oldest first) that matches and has uses left decides the call.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal, cast

from simulator.momo.model import KINDS, PROVIDERS, REASON, ZAMBIAN_MOBILE, Kind, Plan, ProviderName
from simulator.momo.money import parse_amount

SubmitFault = Literal["409", "500", "500_recorded", "hang", "hang_unrecorded", "reject"]
StatusFault = Literal["500", "hang"]
SUBMIT_FAULTS: tuple[SubmitFault, ...] = ("409", "500", "500_recorded", "hang", "hang_unrecorded", "reject")
STATUS_FAULTS: tuple[StatusFault, ...] = ("500", "hang")
OUTCOMES = ("succeed", "fail", "expire")
CALLBACKS = ("normal", "lose", "twice", "late")
DEFAULT_CHAOS_REASONS = ("NOT_ENOUGH_FUNDS", "PAYER_LIMIT_REACHED", "APPROVAL_REJECTED", "INTERNAL_PROCESSING_ERROR")


class BadControl(ValueError):
    """A control request the simulator refuses (answered with 400)."""


@dataclass(frozen=True, slots=True)
class Call:
    provider: ProviderName
    kind: Kind
    msisdn: str | None = None
    external_id: str | None = None
    amount_ngwee: int | None = None


@dataclass(slots=True)
class Decision:
    """What happens to one submit."""

    plan: Plan = field(default_factory=Plan)
    submit: SubmitFault | None = None
    reason: str = ""  # for a rejected submit


@dataclass(slots=True)
class Rule:
    id: int
    provider: ProviderName | None = None
    kind: Kind | None = None
    msisdn: str | None = None
    external_id: str | None = None
    amount_ngwee: int | None = None
    times: int | None = None
    outcome: str | None = None
    reason: str = ""
    delay_ms: int | None = None
    callback: str | None = None
    submit: SubmitFault | None = None
    status: StatusFault | None = None
    used: int = 0

    @property
    def for_status(self) -> bool:
        return self.status is not None

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.used >= self.times

    def matches(self, call: Call) -> bool:
        wanted: list[tuple[object, object]] = [
            (self.provider, call.provider),
            (self.kind, call.kind),
            (self.msisdn, call.msisdn),
            (self.external_id, call.external_id),
            (self.amount_ngwee, call.amount_ngwee),
        ]
        return all(want is None or want == got for want, got in wanted)

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "provider": self.provider,
            "kind": self.kind,
            "msisdn": self.msisdn,
            "external_id": self.external_id,
            "amount_ngwee": self.amount_ngwee,
            "times": self.times,
            "used": self.used,
            "outcome": self.outcome,
            "reason": self.reason,
            "delay_ms": self.delay_ms,
            "callback": self.callback,
            "submit": self.submit,
            "status": self.status,
        }


def _choice(data: dict[str, object], key: str, allowed: tuple[str, ...]) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if value not in allowed:
        raise BadControl(f"{key} must be one of {', '.join(allowed)}")
    return str(value)


def _count(data: dict[str, object], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadControl(f"{key} must be a whole number >= 0")
    return value


def _text(data: dict[str, object], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise BadControl(f"{key} must be a non-empty string")
    return value


def parse_rule(rule_id: int, data: dict[str, object]) -> Rule:
    if "externalId" in data:  # MTN's spelling, accepted too
        data = {("external_id" if key == "externalId" else key): value for key, value in data.items()}
    known = {
        "provider", "kind", "msisdn", "external_id", "amount", "amount_ngwee", "times",
        "outcome", "reason", "delay_ms", "callback", "submit", "status",
    }  # fmt: skip
    unknown = sorted(set(data) - known)
    if unknown:
        raise BadControl(f"unknown rule fields: {', '.join(unknown)}")
    msisdn = _text(data, "msisdn")
    if msisdn is not None and not ZAMBIAN_MOBILE.match(msisdn):
        raise BadControl("msisdn must be a Zambian mobile number in E.164 (+2609XXXXXXXX)")
    amount = _amount(data)
    reason = _text(data, "reason") or ""
    if reason and not REASON.match(reason):
        raise BadControl("reason must be an upper-case code such as NOT_ENOUGH_FUNDS")
    rule = Rule(
        id=rule_id,
        provider=cast("ProviderName | None", _choice(data, "provider", PROVIDERS)),
        kind=cast("Kind | None", _choice(data, "kind", KINDS)),
        msisdn=msisdn,
        external_id=_text(data, "external_id"),
        amount_ngwee=amount,
        times=_count(data, "times"),
        outcome=_choice(data, "outcome", OUTCOMES),
        reason=reason,
        delay_ms=_count(data, "delay_ms"),
        callback=_choice(data, "callback", CALLBACKS),
        submit=cast("SubmitFault | None", _choice(data, "submit", SUBMIT_FAULTS)),
        status=cast("StatusFault | None", _choice(data, "status", STATUS_FAULTS)),
    )
    if rule.reason and rule.outcome is None and rule.submit is None:
        rule.outcome = "fail"
    if (rule.outcome == "fail" or rule.submit == "reject") and not rule.reason:
        raise BadControl("a failing outcome or a rejected submit needs a reason")
    submit_effects = (rule.outcome, rule.delay_ms, rule.callback, rule.submit)
    if rule.status is not None and any(e is not None for e in submit_effects):
        raise BadControl("a rule acts on submits or on status GETs, not both")
    if rule.status is None and all(e is None for e in submit_effects):
        raise BadControl("a rule needs an effect: outcome, reason, delay_ms, callback, submit or status")
    return rule


def _amount(data: dict[str, object]) -> int | None:
    if data.get("amount") is not None:
        ngwee = parse_amount(data["amount"])
        if ngwee is None or not isinstance(data["amount"], str):
            raise BadControl('amount must be a decimal string such as "19999.99"')
        return ngwee
    return _count(data, "amount_ngwee")


RATIOS = (
    "succeed", "fail", "delay", "lose_callback", "duplicate_callback", "late_callback",
    "submit_409", "submit_500", "submit_500_recorded", "submit_hang", "submit_hang_unrecorded",
    "status_500", "status_hang",
)  # fmt: skip


@dataclass(slots=True)
class Chaos:
    """Independent seeded draws per call: an outcome, a delay, a callback fault, a submit fault, a status fault."""

    ratios: dict[str, float]
    reasons: tuple[str, ...]
    delay_ms: int
    rng: random.Random

    def _pick(self, names: tuple[str, ...]) -> str | None:
        roll = self.rng.random()
        for name in names:
            roll -= self.ratios.get(name, 0.0)
            if roll < 0:
                return name
        return None

    def decide_submit(self) -> Decision:
        decision = Decision()
        fault = self._pick(("submit_409", "submit_500", "submit_500_recorded", "submit_hang", "submit_hang_unrecorded"))
        if fault is not None:
            decision.submit = cast("SubmitFault", fault.removeprefix("submit_"))
        outcome = self._pick(("succeed", "fail"))
        if outcome == "succeed":
            decision.plan.outcome = "succeed"
        elif outcome == "fail":
            decision.plan.outcome = "fail"
            decision.plan.reason = self.rng.choice(self.reasons)
        if self._pick(("delay",)) is not None:
            decision.plan.delay_ms = self.delay_ms
        callback = self._pick(("lose_callback", "duplicate_callback", "late_callback"))
        decision.plan.callback = {"lose_callback": "lose", "duplicate_callback": "twice", "late_callback": "late"}.get(
            callback or "", "normal"
        )  # type: ignore[assignment]
        return decision

    def decide_status(self) -> StatusFault | None:
        fault = self._pick(("status_500", "status_hang"))
        return cast("StatusFault", fault.removeprefix("status_")) if fault else None


def parse_chaos(data: dict[str, object]) -> Chaos | None:
    unknown = sorted(set(data) - {*RATIOS, "seed", "reasons", "delay_ms"})
    if unknown:
        raise BadControl(f"unknown chaos fields: {', '.join(unknown)}")
    ratios: dict[str, float] = {}
    for name in RATIOS:
        value = data.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal) or not 0 <= value <= 1:
            raise BadControl(f"{name} must be a probability between 0 and 1")
        ratios[name] = float(value)
    groups = (
        ("succeed", "fail"),
        ("lose_callback", "duplicate_callback", "late_callback"),
        ("submit_409", "submit_500", "submit_500_recorded", "submit_hang", "submit_hang_unrecorded"),
        ("status_500", "status_hang"),
    )
    for group in groups:
        if sum(ratios[name] for name in group) > 1:
            raise BadControl(f"{' + '.join(group)} must add up to at most 1")
    reasons = data.get("reasons", list(DEFAULT_CHAOS_REASONS))
    if not isinstance(reasons, list) or not reasons or not all(isinstance(r, str) and REASON.match(r) for r in reasons):
        raise BadControl("reasons must be a non-empty list of upper-case codes")
    seed = _count(data, "seed") or 0
    delay_ms = _count(data, "delay_ms")
    if not any(ratios.values()):
        return None
    return Chaos(ratios, tuple(str(r) for r in reasons), 1000 if delay_ms is None else delay_ms, random.Random(seed))


@dataclass(slots=True)
class FaultBook:
    rules: list[Rule] = field(default_factory=list)
    chaos: Chaos | None = None
    _next_id: int = 1

    def add_rule(self, data: dict[str, object]) -> Rule:
        rule = parse_rule(self._next_id, data)
        self._next_id += 1
        self.rules.append(rule)
        return rule

    def _take(self, call: Call, *, for_status: bool) -> Rule | None:
        for rule in self.rules:
            if rule.for_status == for_status and not rule.exhausted and rule.matches(call):
                rule.used += 1
                return rule
        return None

    def decide_submit(self, call: Call) -> Decision:
        rule = self._take(call, for_status=False)
        if rule is None:
            return self.chaos.decide_submit() if self.chaos is not None else Decision()
        plan = Plan(delay_ms=rule.delay_ms)
        if rule.outcome is not None:
            plan.outcome = cast("Literal['succeed', 'fail', 'expire']", rule.outcome)
            plan.reason = rule.reason if rule.outcome == "fail" else ""
        if rule.callback is not None:
            plan.callback = cast("Literal['normal', 'lose', 'twice', 'late']", rule.callback)
        return Decision(plan=plan, submit=rule.submit, reason=rule.reason)

    def decide_status(self, call: Call) -> StatusFault | None:
        rule = self._take(call, for_status=True)
        if rule is not None:
            return rule.status
        return self.chaos.decide_status() if self.chaos is not None else None

    def clear(self) -> None:
        self.rules.clear()
        self.chaos = None
