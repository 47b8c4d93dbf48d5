"""``--record FILE``: what you do at the terminal, written as a scenario that replays green.

Each screen is recorded with CON/END and a regex of its first line in which
every word holding a digit (amounts, balances, dates, references, numbers)
matches any word, so a replay tomorrow, with other balances and references,
still passes while the words around them are checked exactly. SMS are
recorded the same way. Numbered answers become ``choose: <label>``; numbers
made up for the session are recorded as ``fresh`` phones, and a typed number
that belongs to a phone in the recording becomes ``${alias.local}``. A MoMo
prompt answered on a handset becomes ``approve``/``reject``; a fresh phone that
answered one is recorded as ``fresh <network>``, so the replay gets a number
with mobile money on the same network.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from simulator.momo_prompt import MERCHANT, MomoPrompt
from simulator.phone import Phone
from simulator.protocol import UssdReply
from simulator.screen import options
from simulator.sms import Sms

MIN_FRAGMENT = 3
_REFERENCE = re.compile(r"\b[0-9A-Z]{5}-[0-9A-Z]{5}\b")  # may hold no digit at all (ABCDE-FGHJK)
# References, then anything numeric: amounts (K1.05), balances, dates, phone numbers.
_VOLATILE = re.compile(rf"{_REFERENCE.pattern}|[+-]?(?:\bK)?\d[\d.,:/]*")


def stable_fragment(text: str) -> str:
    """The longest run of ``text`` that does not change between runs ("" if none is worth checking)."""
    pieces = (p.strip(" .,:;-()") for p in _VOLATILE.split(text))
    best = max(pieces, key=len, default="")
    return best if len(best) >= MIN_FRAGMENT else ""


def _volatile(word: str) -> bool:
    return any(c.isdigit() for c in word) or bool(_REFERENCE.search(word))


def line_pattern(line: str) -> str:
    """A regex for one line: words with a digit in them match any word, the rest match exactly."""
    words = [r"\S+" if _volatile(word) else re.escape(word) for word in line.split()]
    return "^" + " ".join(words) + "$"


class Recorder:
    """Collects steps as they happen and rewrites the file after each, so a killed session still leaves one."""

    def __init__(self, path: Path, *, target: str = "", answer_timeout_s: float = 60.0) -> None:
        self.path = path
        self.target = target
        self.answer_timeout_s = answer_timeout_s
        self.aliases: dict[str, str] = {}  # number -> alias
        self.phones: dict[str, str] = {}  # alias -> number or "fresh"
        self.steps: list[dict[str, Any]] = []
        self.current = ""
        self._shown: dict[str, UssdReply] = {}  # number -> the screen the phone showed last

    def _alias(self, phone: Phone) -> str:
        if phone.number not in self.aliases:
            alias = f"phone{len(self.aliases) + 1}"
            self.aliases[phone.number] = alias
            self.phones[alias] = "fresh" if phone.fresh else phone.number
        return self.aliases[phone.number]

    def _on(self, phone: Phone) -> dict[str, Any]:
        """Address a step to ``phone`` if it is not the phone that dialled last."""
        alias = self._alias(phone)
        return {} if alias == self.current else {"phone": alias}

    @staticmethod
    def _expect(screen: UssdReply) -> dict[str, Any]:
        expect: dict[str, Any] = {"end": screen.end}
        first = screen.text.split("\n", 1)[0].strip()
        if first:
            expect["regex"] = line_pattern(first)
        return expect

    @staticmethod
    def _label(screen: UssdReply | None, value: str) -> str:
        """The stable part of the option ``value`` picks, if it names that option alone ("" otherwise)."""
        if screen is None or not value.isdigit():
            return ""
        shown = options(screen.text)
        chosen = [text for number, text in shown if number == value]
        label = stable_fragment(chosen[0]) if len(chosen) == 1 else ""
        # choose picks the first option containing the label: it must point at this one only.
        unique = label and sum(label.lower() in text.lower() for _, text in shown) == 1
        return label if unique else ""

    def _typed(self, value: str) -> str:
        for number, alias in self.aliases.items():
            if value == number:
                return f"${{{alias}}}"
            if value == "0" + number[4:]:
                return f"${{{alias}.local}}"
        return value

    def dial(self, phone: Phone, code: str, shortcode: str, screen: UssdReply) -> None:
        alias = self._alias(phone)
        step: dict[str, Any] = {"dial": alias}
        if code != shortcode:
            step["code"] = code
        step["expect"] = self._expect(screen)
        self.current = alias
        self._shown[phone.number] = screen
        self._add(step)

    def reply(self, phone: Phone, value: str, screen: UssdReply) -> None:
        # "choose: Buy energy" reads better than "reply: '2'" and survives a menu reordering.
        label = self._label(self._shown.get(phone.number), value)
        action = {"choose": label} if label else {"reply": self._typed(value)}
        self._shown[phone.number] = screen
        self._add({**action, **self._on(phone), "expect": self._expect(screen)})

    def cancel(self, phone: Phone) -> None:
        alias = self._alias(phone)
        self._add({"cancel": alias, "expect": {"status": "Incomplete"}})

    def timeout(self, phone: Phone) -> None:
        # Long enough for the replay's own answer timeout (60 s unless changed) as well as ours.
        seconds = int(max(self.answer_timeout_s, 60.0)) + 1
        self._add({"idle": seconds, "expect": {"status": "Failed"}, "note": f"{self._alias(phone)} timed out"})

    def prompt(self, phone: Phone, prompt: MomoPrompt, approve: bool) -> None:
        alias = self._alias(phone)
        if self.phones[alias] == "fresh":
            self.phones[alias] = f"fresh {phone.operator}"  # the prompt came from this network's wallet
        # The amount is what was typed, so it replays; the provider's reference does not.
        self._add(
            {"approve" if approve else "reject": alias, "expect": {"contains": f"Pay {prompt.amount} to {MERCHANT}"}}
        )

    def sms(self, phone: Phone, message: Sms) -> None:
        if not self.steps:
            return  # arrived before anything was done here (e.g. the demo data's): no replay would see it
        step: dict[str, Any] = {"sms": self._alias(phone), "expect": {"regex": line_pattern(message.text)}}
        step["timeout"] = 10
        self._add(step)

    def _add(self, step: dict[str, Any]) -> None:
        self.steps.append(step)
        self.save()

    def as_yaml(self) -> str:
        data = {
            "name": self.path.stem,
            "about": f"Recorded with python -m simulator --record on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
            + (f" against {self.target}" if self.target else ""),
            "phones": self.phones,
            "steps": self.steps,
        }
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)

    def save(self) -> None:
        if not self.steps:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(self.as_yaml(), encoding="utf-8")
