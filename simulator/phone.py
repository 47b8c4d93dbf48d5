"""Handsets: each has a number, at most one USSD session at a time, an SMS inbox and MoMo prompts.

The interactive app and the scenario runner both drive phones through this
module, so what a scenario checks is what a person at the terminal sees.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from simulator.momo_prompt import MomoPrompt, PromptAnswer, PromptSource
from simulator.numbers import fresh_number, local_format, network_of, to_e164
from simulator.protocol import Clock, GatewayClient, PhoneSession, SessionClosed, Timeouts, UssdReply
from simulator.sms import Sms, SmsSource

_USSD_CODE = re.compile(r"\*[0-9*]*#")


def split_dial(code: str, known: str) -> tuple[str, tuple[str, ...]]:
    """``*384*2025*1*2#`` dialled with the shortcode ``*384*2025#`` -> (``*384*2025#``, ("1", "2")).

    AT passes inputs typed after the shortcode in the first hop's ``text``; any other
    code goes out as dialled.
    """
    base = known.removesuffix("#")
    if code != known and code.startswith(base + "*") and code.endswith("#"):
        return known, tuple(code[len(base) + 1 : -1].split("*"))
    return code, ()


def is_ussd_code(text: str) -> bool:
    return bool(_USSD_CODE.fullmatch(text))


@dataclass
class Phone:
    """One handset."""

    number: str  # E.164
    fresh: bool = False  # made up for this run (a scenario may register it)
    network_code: str = ""
    session: PhoneSession | None = None
    screen: UssdReply | None = None  # what the display shows
    inbox: list[Sms] = field(default_factory=list)
    unread: int = 0
    baseline: int = 0  # inbox[:baseline] was there before this run started
    prompts: list[MomoPrompt] = field(default_factory=list)  # mobile-money pop-ups waiting, oldest first
    answered: str = ""  # how the last pop-up went, on the display until the next dial, answer or cancel
    _seen: set[tuple[int, str]] = field(default_factory=set)
    _answered: set[str] = field(default_factory=set)  # reference ids this handset answered

    def __post_init__(self) -> None:
        self.number = to_e164(self.number)
        self.network_code = self.network_code or network_of(self.number)[1]

    @property
    def local(self) -> str:
        return local_format(self.number)

    @property
    def operator(self) -> str:
        return network_of(self.number)[0]

    @property
    def in_session(self) -> bool:
        return self.session is not None and not self.session.closed

    async def dial(
        self,
        client: GatewayClient,
        code: str,
        *,
        shortcode: str | None = None,
        clock: Clock = time.monotonic,
        timeouts: Timeouts | None = None,
    ) -> UssdReply:
        """Start a new session (a phone has one at a time: an open one is cancelled first)."""
        await self.cancel()
        service_code, preset = split_dial(code, shortcode or code)
        self.session = PhoneSession(
            client,
            phone=self.number,
            service_code=service_code,
            network_code=self.network_code,
            clock=clock,
            timeouts=timeouts,
        )
        self.answered = ""
        self.screen = await self.session.start(preset)
        return self.screen

    async def reply(self, value: str) -> UssdReply:
        if self.session is None:
            raise SessionClosed("no session: dial first")
        self.answered = ""
        self.screen = await self.session.reply(value)
        return self.screen

    async def cancel(self) -> bool:
        """Cancel the open session; True if there was one."""
        if not self.in_session:
            return False
        assert self.session is not None
        await self.session.cancel()
        return True

    async def check_timeout(self) -> bool:
        """True if the open session just timed out."""
        if not self.in_session:
            return False
        assert self.session is not None
        return await self.session.check_timeout()

    def mark_seen(self, messages: list[Sms]) -> None:
        """Take what is already in the inbox as old (a run starts from here)."""
        self.inbox = list(messages)
        self.baseline = len(self.inbox)
        self._seen = {m.key for m in messages}

    async def refresh_inbox(self, source: SmsSource) -> list[Sms]:
        """Fetch the inbox; the messages that are new since the last look, oldest first."""
        messages = await source.fetch(self.number)
        new = [m for m in messages if m.key not in self._seen]
        if new:
            self._seen.update(m.key for m in new)
            self.inbox.extend(new)
            self.unread += len(new)
        return new

    @property
    def prompt(self) -> MomoPrompt | None:
        """The mobile-money pop-up on the display (the oldest waiting), if any."""
        return self.prompts[0] if self.prompts else None

    @property
    def display(self) -> str:
        """What the display shows: a MoMo pop-up over everything, else how the last went, else the USSD screen."""
        if self.prompt is not None:
            return self.prompt.text
        return self.answered or (self.screen.text if self.screen else "")

    async def refresh_prompts(self, source: PromptSource) -> list[MomoPrompt]:
        """Ask what waits for this handset's approval; the prompts that are new since the last look."""
        waiting = [p for p in await source.pending(self.number) if p.reference_id not in self._answered]
        known = {p.reference_id for p in self.prompts}
        self.prompts = waiting
        new = [p for p in waiting if p.reference_id not in known]
        if new:
            self.answered = ""
        return new

    async def answer_prompt(self, source: PromptSource, prompt: MomoPrompt, approve: bool) -> PromptAnswer:
        """Approve (a MoMo PIN typed) or reject the pop-up; once settled it leaves the display."""
        answer = await source.answer(prompt, approve)
        if answer.settled:
            # A poll that left before this answer may still list it: it is not shown again.
            self._answered.add(prompt.reference_id)
            self.prompts = [p for p in self.prompts if p.reference_id != prompt.reference_id]
            self.answered = answer.text
        return answer


class Phones:
    """The handsets on the desk, and which one is in your hand."""

    def __init__(self, numbers: list[str] | None = None) -> None:
        self.phones: list[Phone] = []
        self.index = 0
        for number in numbers or []:
            self.add(number)

    def __iter__(self) -> Iterator[Phone]:
        return iter(self.phones)

    def __len__(self) -> int:
        return len(self.phones)

    @property
    def current(self) -> Phone:
        if not self.phones:
            self.add_fresh()
        return self.phones[self.index]

    def find(self, number: str) -> Phone | None:
        e164 = to_e164(number)
        return next((p for p in self.phones if p.number == e164), None)

    def add(self, number: str, *, fresh: bool = False) -> Phone:
        """Add a phone (or find the one with that number) without switching to it."""
        existing = self.find(number)
        if existing is not None:
            return existing
        phone = Phone(number, fresh=fresh)
        self.phones.append(phone)
        return phone

    def add_fresh(self) -> Phone:
        return self.add(fresh_number(), fresh=True)

    def switch(self, number: str) -> Phone:
        """Pick up the phone with this number (adding it if new); its unread count clears."""
        phone = self.add(number)
        self.index = self.phones.index(phone)
        phone.unread = 0
        return phone

    def next(self) -> Phone:
        if not self.phones:
            return self.current
        self.index = (self.index + 1) % len(self.phones)
        self.current.unread = 0
        return self.current
