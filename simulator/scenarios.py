"""Run scenario files against a target and report, step by step, what differed.

Each scenario gets its own phones (``fresh`` ones made up for the run), its
own movable clock and a baseline of every inbox, so it passes the same way on
every run and next to any other scenario. Open sessions are cancelled at the
end, like a user hanging up.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from simulator.momo_prompt import MomoPrompt, Outcome, PromptSource
from simulator.numbers import fresh_number
from simulator.phone import Phone
from simulator.protocol import PhoneSession, SessionClosed, ShiftClock, Timeouts, UssdReply
from simulator.scenario_file import (
    PHONE_ACTIONS,
    PROMPT_ACTIONS,
    Expect,
    Scenario,
    ScenarioError,
    Step,
    fresh_operator,
    load_scenario,
    substitute,
)
from simulator.screen import framed, options
from simulator.sms import Sms, SmsSource
from simulator.target import Target

DEFAULT_SMS_TIMEOUT = 10.0
DEFAULT_PROMPT_TIMEOUT = 10.0  # seconds an approve/reject step waits for the MoMo prompt to reach the handset


class StepFailed(Exception):
    def __init__(self, message: str, *, messages: list[Sms] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.messages = messages


@dataclass
class Failure:
    step: Step | None  # None: the file itself could not be loaded
    message: str
    phone: Phone | None = None
    screen: UssdReply | None = None
    messages: list[Sms] | None = None
    session: str = ""  # the phone's session when the step failed (the run hangs up afterwards)

    def __post_init__(self) -> None:
        s = self.phone.session if self.phone else None
        if s is not None and not self.session:
            state = f"ended {s.status}" if s.status else "open"
            self.session = f"session {s.session_id} text={s.text!r} ({state})"


@dataclass
class Result:
    path: Path
    name: str
    steps: int = 0
    done: int = 0
    seconds: float = 0.0
    failure: Failure | None = None
    skipped: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.failure is None


def option_number(screen: str, label: str) -> str | None:
    """The number in front of the first option line containing ``label`` (case-insensitive)."""
    return next((number for number, text in options(screen) if label.lower() in text.lower()), None)


def check_text(expect: Expect, text: str, values: dict[str, str], what: str) -> None:
    for wanted in expect.contains:
        wanted = substitute(wanted, values)
        if wanted not in text:
            raise StepFailed(f"expected the {what} to contain {wanted!r}")
    for unwanted in expect.not_contains:
        unwanted = substitute(unwanted, values)
        if unwanted in text:
            raise StepFailed(f"expected the {what} not to contain {unwanted!r}")
    for pattern in expect.regex:
        pattern = substitute(pattern, values, regex=True)
        if not re.search(pattern, text, re.MULTILINE):
            raise StepFailed(f"expected the {what} to match /{pattern}/")


def check_screen(
    expect: Expect, screen: UssdReply | None, session: PhoneSession | None, values: dict[str, str]
) -> None:
    if screen is None:
        raise StepFailed("no screen: the phone has not dialled")
    if screen.error:
        raise StepFailed(f"the app's reply broke the USSD protocol: {screen.error}")
    if expect.end is not None and screen.end != expect.end:
        raise StepFailed(f"expected a {'END' if expect.end else 'CON'} screen, got {screen.kind}")
    check_text(expect, screen.text, values, "screen")
    if expect.status is not None:
        status = session.status if session else None
        if status != expect.status:
            raise StepFailed(f"expected the session to have ended {expect.status}, it is {status or 'still open'}")


def save_values(step: Step, text: str, values: dict[str, str], what: str) -> None:
    for name, pattern in step.save:
        m = re.search(substitute(pattern, values, regex=True), text, re.MULTILINE)
        if m is None:
            raise StepFailed(f"save {name}: /{pattern}/ found nothing in the {what}")
        values[name] = m.group(1) if m.groups() else m.group(0)


class ScenarioRunner:
    """Runs scenarios one after another against one target."""

    def __init__(
        self,
        target: Target,
        *,
        timeouts: Timeouts | None = None,
        poll_s: float = 0.1,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.target = target
        self.timeouts = timeouts or Timeouts()
        self.poll_s = poll_s
        self.log = log or (lambda _line: None)

    async def run_file(self, path: Path) -> Result:
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            return Result(path, path.stem, failure=Failure(None, str(exc)))
        return await self.run(scenario)

    async def run(self, scenario: Scenario) -> Result:
        started = time.monotonic()
        result = Result(scenario.path, scenario.name, steps=len(scenario.steps))
        run = _Run(self, scenario, result)
        try:
            await run.prepare()
            for step in scenario.steps:
                try:
                    await run.step(step)
                except StepFailed as failed:
                    phone = run.phone_for(step)
                    screen = phone.screen if step.action not in ("sms", *PROMPT_ACTIONS) else None
                    result.failure = Failure(step, failed.message, phone, screen, failed.messages)
                    break
                except Exception as exc:  # reported against the step rather than ending the whole run
                    phone = run.phone_for(step)
                    result.failure = Failure(step, _explain(exc), phone, phone.screen)
                    break
                result.done += 1
        finally:
            await run.hang_up()
            result.seconds = time.monotonic() - started
        return result


class _Run:
    """The state of one scenario while it runs: its phones, clock, saved values and used SMS."""

    def __init__(self, runner: ScenarioRunner, scenario: Scenario, result: Result) -> None:
        self.runner = runner
        self.target = runner.target
        self.scenario = scenario
        self.result = result
        self.clock = ShiftClock()
        self.phones = {alias: _phone(spec) for alias, spec in scenario.phones.items()}
        self.current = next(iter(self.phones))
        self.values: dict[str, str] = {"shortcode": self.target.shortcode}
        for alias, phone in self.phones.items():
            self.values.update({alias: phone.number, f"{alias}.number": phone.number, f"{alias}.local": phone.local})
        self.used: set[tuple[int, str]] = set()

    def phone_for(self, step: Step) -> Phone:
        alias = step.phone or (step.arg if step.action in PHONE_ACTIONS and step.arg else None)
        return self.phones[alias or self.current]

    async def prepare(self) -> None:
        # Messages already there belong to earlier runs: only new ones can satisfy an sms step.
        for phone in self.phones.values():
            phone.mark_seen(await self.target.sms.fetch(phone.number))

    async def hang_up(self) -> None:
        for phone in self.phones.values():
            try:
                await phone.cancel()
            except Exception:  # the target may be gone; nothing to report to the user
                continue

    def _show(self, step: Step, phone: Phone) -> None:
        self.runner.log(f"  {step.describe()}  [{phone.local}]")
        if phone.screen is not None:
            self.runner.log(_indent(framed(phone.screen.text, title=phone.screen.kind), 4))

    async def step(self, step: Step) -> None:
        phone = self.phone_for(step)
        action = step.action
        if action == "switch":
            self.current = step.arg
            return
        if action == "sms":
            await self._sms(step, phone)
            return
        if action in PROMPT_ACTIONS:
            await self._prompt(step, phone)
            return
        if action == "dial":
            code = substitute(step.code or self.target.shortcode, self.values)
            await phone.dial(
                self.target.client,
                code,
                shortcode=self.target.shortcode,
                clock=self.clock,
                timeouts=self.runner.timeouts,
            )
            self.current = step.arg
        elif action in ("reply", "choose"):
            if not phone.in_session:
                status = phone.session.status if phone.session else None
                raise StepFailed(f"no open session on {phone.local} to type into ({status or 'never dialled'})")
            assert phone.screen is not None
            value = substitute(step.arg, self.values)
            if action == "choose":
                number = option_number(phone.screen.text, value)
                if number is None:
                    raise StepFailed(f"no option {value!r} on the screen")
                value = number
            await phone.reply(value)
        elif action == "cancel":
            if not await phone.cancel():
                raise StepFailed(f"nothing to cancel: {phone.local} has no open session")
        elif action == "idle":
            self.clock.advance(float(step.arg))
            for each in self.phones.values():
                await each.check_timeout()
        self._show(step, phone)
        check_screen(step.expect, phone.screen, phone.session, self.values)
        if phone.screen is not None:
            save_values(step, phone.screen.text, self.values, "screen")

    async def _sms(self, step: Step, phone: Phone) -> None:
        source = self.target.sms
        timeout = step.timeout or DEFAULT_SMS_TIMEOUT
        deadline = asyncio.get_running_loop().time() + timeout
        last_error = ""
        while not _unavailable(source):  # also learnt from a fetch (a 404)
            await phone.refresh_inbox(source)
            fresh = [m for m in phone.inbox[phone.baseline :] if m.key not in self.used]
            found, last_error = self._first_match(step, [m.text for m in fresh], "SMS", last_error)
            if found is not None:
                message = fresh[found]
                self.used.add(message.key)
                self.runner.log(f"  {step.describe()}  [{phone.local}]\n    SMS: {message.text}")
                save_values(step, message.text, self.values, "SMS")
                return
            if _unavailable(source):
                break
            if asyncio.get_running_loop().time() >= deadline:
                why = f" (closest: {last_error})" if last_error else ""
                raise StepFailed(f"no matching SMS reached {phone.local} within {timeout:g} s{why}", messages=fresh)
            await asyncio.sleep(self.runner.poll_s)
        self.result.skipped.append(f"{step.describe()}: the server has no dev SMS inbox")

    async def _prompt(self, step: Step, phone: Phone) -> None:
        """Wait for a MoMo prompt on the handset that satisfies ``expect``; approve it (a PIN typed) or reject it."""
        source = self.target.momo
        timeout = step.timeout or DEFAULT_PROMPT_TIMEOUT
        deadline = asyncio.get_running_loop().time() + timeout
        last_error = ""
        while not _unavailable(source):  # also learnt from a poll (GET /dev/momo answered 404)
            await phone.refresh_prompts(source)
            found, last_error = self._first_match(step, [p.text for p in phone.prompts], "MoMo prompt", last_error)
            if found is not None:
                await self._answer(step, phone, phone.prompts[found])
                return
            if _unavailable(source):
                break
            if asyncio.get_running_loop().time() >= deadline:
                why = f" (closest: {last_error})" if last_error else ""
                raise StepFailed(f"no matching MoMo prompt reached {phone.local} within {timeout:g} s{why}")
            await asyncio.sleep(self.runner.poll_s)
        self.result.skipped.append(f"{step.describe()}: the server has no provider simulator (GET /dev/momo)")

    async def _answer(self, step: Step, phone: Phone, prompt: MomoPrompt) -> None:
        approve = step.action == "approve"
        self.runner.log(f"  {step.describe()}  [{phone.local}]\n    MoMo: {' '.join(prompt.text.splitlines())}")
        save_values(step, prompt.text, self.values, "MoMo prompt")
        answer = await phone.answer_prompt(self.target.momo, prompt, approve)
        if answer.outcome is not (Outcome.APPROVED if approve else Outcome.REJECTED):
            raise StepFailed(f"could not {step.action} the MoMo prompt: {answer.text}")
        self.runner.log(f"    {answer.text}")

    def _first_match(self, step: Step, texts: list[str], what: str, last_error: str) -> tuple[int | None, str]:
        """The first text satisfying the step's ``expect`` (None if none), and why the last miss missed."""
        for i, text in enumerate(texts):
            try:
                check_text(step.expect, text, self.values, what)
            except StepFailed as failed:
                last_error = failed.message
                continue
            return i, last_error
        return None, last_error


def _phone(spec: str) -> Phone:
    fresh, operator = fresh_operator(spec)
    return Phone(fresh_number(operator=operator) if fresh else spec, fresh=fresh)


def _unavailable(source: SmsSource | PromptSource) -> bool:
    # A function, not an inline test: ``available`` changes under our feet when a fetch meets a 404.
    return not source.available


def _explain(exc: Exception) -> str:
    if isinstance(exc, SessionClosed):
        return str(exc)
    if isinstance(exc, KeyError):  # substitute() met a ${name} that nothing saved
        return f"unknown value ${{{exc.args[0]}}}"
    return f"{type(exc).__name__}: {exc}"


def _indent(text: str, n: int) -> str:
    return "\n".join(" " * n + line for line in text.splitlines())


def format_result(result: Result) -> str:
    """One line for a pass; for a failure, the step, the reason and the screen (or SMS) that differed."""
    where = result.path.name
    if result.passed:
        momo = sum("provider simulator" in why for why in result.skipped)
        sms = len(result.skipped) - momo
        skipped = (f", {sms} SMS checks skipped" if sms else "") + (f", {momo} MoMo prompts skipped" if momo else "")
        return f"PASS  {where}: {result.name} ({result.done} steps, {result.seconds:.2f} s{skipped})"
    failure = result.failure
    assert failure is not None
    if failure.step is None:
        return f"FAIL  {where}: {failure.message}"
    lines = [
        f"FAIL  {where}: {result.name}",
        f"      {failure.step.describe(result.steps)}" + (f" - {failure.step.note}" if failure.step.note else ""),
        f"      {failure.message}",
    ]
    if failure.phone is not None:
        lines.append(f"      phone {failure.phone.number} {failure.session}".rstrip())
    if failure.messages is not None:
        lines.append("      SMS that arrived: " + ("none" if not failure.messages else ""))
        lines += [f"        - {m.text}" for m in failure.messages]
    elif failure.screen is not None:
        lines.append(_indent(framed(failure.screen.text, title=f"{failure.screen.kind} screen"), 6))
        if failure.screen.error:
            lines.append(f"      raw reply: {failure.screen.raw!r}")
    return "\n".join(lines)


def summary(results: list[Result]) -> str:
    passed = sum(r.passed for r in results)
    return f"scenarios: {passed} passed, {len(results) - passed} failed"


def scenario_paths(args: list[str]) -> list[Path]:
    """Files as given; a directory means its *.yaml files in name order."""
    paths: list[Path] = []
    for arg in args:
        p = Path(arg)
        paths.extend(sorted(p.glob("*.yaml")) if p.is_dir() else [p])
    return paths
