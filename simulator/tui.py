"""The interactive phone: a Textual app with a phone list, a small display, a keypad line and an SMS inbox.

Textual, because it is actively maintained, asyncio-native (the USSD hops and
the in-process server share its event loop, with no threads), lays out panels
with CSS, and ships a headless test harness (``App.run_test`` and its Pilot)
that lets the suite press keys and read the panels like a person would.

Keys: type a USSD code and Enter to dial (Enter alone dials the shortcode),
type an answer and Enter to send it, Esc cancels the session, F3 or Ctrl+N
picks up the next phone, F4 adds a phone with a new number, Up/Down scroll
a long screen, Ctrl+Q quits (open sessions are cancelled, as when hanging up),
F1 shows all of this in the app.

Mobile money: every phone asks about once a second for deposits waiting for
its approval (``momo_prompt``); the phone in hand shows one as a pop-up over
its display, which the keypad answers (a 4-digit MoMo PIN approves, 2 or Esc
rejects); the display says how it went, and the server's SMS follows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from datetime import datetime
from typing import ClassVar, TypeVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import Footer, Header, Input, OptionList, Static

from simulator.momo_prompt import POLL_S, REJECT, MomoPrompt, Outcome, parse_answer
from simulator.numbers import BadNumber, fresh_number, to_e164
from simulator.phone import Phone, Phones, is_ussd_code
from simulator.protocol import Clock, SessionClosed, Timeouts
from simulator.recorder import Recorder
from simulator.screen import HEIGHT, WIDTH, ScreenView
from simulator.target import Target
from simulator.tui_help import HelpScreen, help_text

TargetOpener = Callable[[], AbstractAsyncContextManager[Target]]
TICK_S = 0.5
W = TypeVar("W", bound=Widget)


class SimulatorApp(App[int]):
    TITLE = "Enerlectra phone simulator"
    CSS = f"""
    #desk {{ height: 1fr; }}
    #phones {{ width: 36; border: round $accent; }}
    #handset {{ width: {WIDTH + 6}; }}
    #display {{ height: {HEIGHT + 3}; border: heavy $success; padding: 0 1; }}
    #keypad {{ width: {WIDTH + 6}; }}
    #status {{ height: 4; padding: 0 1; color: $text-muted; }}
    #inbox {{ border: round $secondary; width: 1fr; }}
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help", key_display="F1"),
        Binding("escape", "cancel", "Cancel session"),
        Binding("f2", "dial", "Dial shortcode"),
        Binding("f3,ctrl+n", "next_phone", "Next phone"),
        Binding("f4", "new_phone", "New number"),
        Binding("up", "scroll(-1)", "Scroll", show=False),
        Binding("down", "scroll(1)", "Scroll", show=False),
        Binding("pageup", f"scroll(-{HEIGHT})", show=False),
        Binding("pagedown", f"scroll({HEIGHT})", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        opener: TargetOpener,
        *,
        numbers: list[str],
        recorder: Recorder | None = None,
        clock: Clock = time.monotonic,
        timeouts: Timeouts | None = None,
    ) -> None:
        super().__init__()
        self.opener = opener
        self.phones = Phones(numbers)
        self.recorder = recorder
        self.clock = clock
        self.timeouts = timeouts or Timeouts()
        self.target: Target | None = None
        self.view = ScreenView([])
        self._stack = AsyncExitStack()
        self._ticking = False
        self._notice = ""
        self._polling = False
        self.prompt_polls = 0  # rounds of asking the provider simulator for every phone's prompts
        self._answering: set[str] = set()  # reference ids of prompts whose answer is on its way

    # --- layout -----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="desk"):
            yield OptionList(id="phones")
            with Vertical(id="handset"):
                # markup=False: a USSD screen or SMS holding "[...]" is text, not styling.
                yield Static(id="display", markup=False)
                yield Input(placeholder="*384*2025# then Enter", id="keypad")
                yield Static(id="status", markup=False)
            with VerticalScroll(id="inbox"):
                yield Static(id="messages", markup=False)
        yield Footer()

    async def on_mount(self) -> None:
        self._desk("#phones", OptionList).border_title = "Phones"
        self._desk("#inbox", VerticalScroll).border_title = "SMS inbox"
        self._desk("#keypad", Input).focus()
        self._notice = "Starting..."
        self._refresh()
        try:
            self.target = await self._stack.enter_async_context(self.opener())
        except Exception as exc:  # a server that cannot start or a bad URL: say so and leave
            self.exit(1, return_code=1, message=f"cannot open the target: {exc}")
            return
        self.sub_title = self.target.description
        for phone in self.phones:
            phone.mark_seen(await self.target.sms.fetch(phone.number))
        self._notice = f"Press Enter to dial {self.target.shortcode}"
        self._refresh()
        self.set_interval(TICK_S, self._tick)
        self.set_interval(POLL_S, self._poll_prompts)

    async def action_quit(self) -> None:
        for phone in self.phones:
            if phone.in_session:
                await phone.cancel()
        await self._stack.aclose()
        self.exit(0)

    # --- what the keys do ---------------------------------------------------------------

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        phone = self.phones.current
        if self.target is not None and phone.prompt is not None:  # the pop-up is on top: the keys are its
            event.input.value = ""
            approve = parse_answer(value)
            if approve is None:
                self._notice = f"Enter your 4-digit MoMo PIN to approve, or {REJECT} to reject"
                self._refresh()
            else:
                self._answer_prompt(phone, phone.prompt, approve=approve)
            return
        if self.target is None or (phone.session is not None and phone.session.in_flight):
            return  # still waiting for the network: keep what was typed
        event.input.value = ""
        if phone.in_session:
            self.run_worker(self._send(phone, event.value), group="hop")
        elif not value or is_ussd_code(value):
            self.run_worker(self._dial(phone, value or self.target.shortcode), group="hop")
        else:
            try:
                await self._pick_up_number(to_e164(value))
            except BadNumber:
                self._notice = "Type a USSD code like *384*2025# or a phone number, then Enter"
                self._refresh()

    def action_dial(self) -> None:
        phone = self.phones.current
        if self.target is not None and not (phone.session is not None and phone.session.in_flight):
            self.run_worker(self._dial(phone, self.target.shortcode), group="hop")

    async def action_cancel(self) -> None:
        phone = self.phones.current
        if phone.prompt is not None:  # Cancel on a push prompt declines it, as on a handset
            self._answer_prompt(phone, phone.prompt, approve=False)
            return
        phone.answered = ""
        if await phone.cancel():
            self._notice = "You cancelled the session."
            if self.recorder:
                self.recorder.cancel(phone)
        else:
            self._notice = ""
        phone.screen = None  # the handset goes back to its idle screen
        self._show_screen(phone)

    def action_next_phone(self) -> None:
        self._pick_up(self.phones.next().number)

    async def action_new_phone(self) -> None:
        await self._pick_up_number(fresh_number(), fresh=True)

    def action_scroll(self, lines: int) -> None:
        self.view.scroll(lines)
        self._refresh()

    def action_help(self) -> None:
        code = self.target.shortcode if self.target is not None else "the shortcode"
        self.push_screen(HelpScreen(help_text(code, self.recorder.path if self.recorder else None, self.timeouts)))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self._pick_up(self.phones.phones[event.option_index].number)

    async def _pick_up_number(self, number: str, *, fresh: bool = False) -> None:
        """Pick up a phone by number, putting it on the desk first if it is new."""
        phone = self.phones.find(number)
        if phone is None:
            phone = self.phones.add(number, fresh=fresh)
            if self.target is not None:
                # What is already in a new phone's inbox is old news, not something that just arrived.
                phone.mark_seen(await self.target.sms.fetch(phone.number))
        self._pick_up(phone.number)

    def _pick_up(self, number: str) -> None:
        phone = self.phones.switch(number)
        self._notice = f"{phone.local} ({phone.operator})"
        self._show_screen(phone)
        self._desk("#keypad", Input).focus()

    # --- talking to the server ------------------------------------------------------------

    async def _dial(self, phone: Phone, code: str) -> None:
        assert self.target is not None
        self._notice = f"Dialling {code}..."
        self._refresh()
        shortcode = self.target.shortcode
        screen = await phone.dial(
            self.target.client, code, shortcode=shortcode, clock=self.clock, timeouts=self.timeouts
        )
        if self.recorder:
            self.recorder.dial(phone, code, shortcode, screen)
        self._after_hop(phone)

    async def _send(self, phone: Phone, value: str) -> None:
        try:
            screen = await phone.reply(value)
        except SessionClosed as exc:
            self._notice = str(exc)
            self._show_screen(phone)
            return
        if self.recorder:
            self.recorder.reply(phone, value, screen)
        self._after_hop(phone)

    def _answer_prompt(self, phone: Phone, prompt: MomoPrompt, *, approve: bool) -> None:
        if prompt.reference_id not in self._answering:  # else its answer is on its way already
            self._answering.add(prompt.reference_id)
            self._notice = f"{prompt.wallet}: sending your answer..."
            self._refresh()
            self.run_worker(self._send_answer(phone, prompt, approve), group="momo")

    async def _send_answer(self, phone: Phone, prompt: MomoPrompt, approve: bool) -> None:
        assert self.target is not None
        try:
            answer = await phone.answer_prompt(self.target.momo, prompt, approve)
        finally:
            self._answering.discard(prompt.reference_id)
        if self.recorder and answer.outcome in (Outcome.APPROVED, Outcome.REJECTED):
            self.recorder.prompt(phone, prompt, approve)
        self._notice = "The server's SMS follows in the inbox." if answer.settled else answer.text
        if phone is self.phones.current:
            self._show_screen(phone)

    async def _poll_prompts(self) -> None:
        """Every phone asks the provider simulator what waits for its approval (nothing if the server has none)."""
        if self.target is None or self._polling or not self.target.momo.available:
            return
        self._polling = True
        try:
            for phone in self.phones:
                shown = phone.prompt
                new = await phone.refresh_prompts(self.target.momo)
                if phone is not self.phones.current:
                    if new:
                        self.notify(new[0].text.splitlines()[0], title=f"MoMo prompt on {phone.local}", timeout=4)
                elif phone.prompt != shown:  # one popped up, or went (answered, or no longer waiting)
                    if phone.prompt is not None:
                        self._notice = f"{phone.prompt.wallet} asks you to approve a payment"
                    self._show_screen(phone)
            self.prompt_polls += 1
            self._refresh_phone_list()
        except NoMatches:
            pass  # the app closed while this poll awaited the simulator
        finally:
            self._polling = False

    def _after_hop(self, phone: Phone) -> None:
        session = phone.session
        if session is not None and session.closed:
            if session.error:
                self._notice = f"Session failed: {session.error}"
            else:
                self._notice = "Session ended. Enter to dial again."
        else:
            self._notice = ""
        if phone is self.phones.current:
            self._show_screen(phone)

    async def _tick(self) -> None:
        """Close sessions that idled past the gateway timeout; fetch new SMS for every phone."""
        if self.target is None or self._ticking:
            return
        self._ticking = True
        arrived = False
        try:
            for phone in self.phones:
                if await phone.check_timeout():
                    if self.recorder:
                        self.recorder.timeout(phone)
                    phone.screen = None
                    if phone is self.phones.current:
                        self._notice = "The session timed out (no answer in time)."
                        self._show_screen(phone)
                for message in await phone.refresh_inbox(self.target.sms):
                    if self.recorder:
                        self.recorder.sms(phone, message)
                    if phone is self.phones.current:
                        phone.unread = 0
                        arrived = True
                        self.notify(message.text, title=f"SMS to {phone.local}", timeout=4)
            self._refresh()
            if arrived:
                self._desk("#inbox", VerticalScroll).scroll_end(animate=False)
        except NoMatches:
            pass  # the app closed while this tick awaited the server: there is nothing left to draw
        finally:
            self._ticking = False

    # --- drawing --------------------------------------------------------------------------

    def _desk(self, selector: str, kind: type[W]) -> W:
        """A widget of the desk (the main screen), also while the help is shown over it."""
        if not self.screen_stack:
            raise NoMatches(f"no desk to find {selector} on: the app has closed")
        return self.screen_stack[0].query_one(selector, kind)

    def _show_screen(self, phone: Phone) -> None:
        self.view = ScreenView.of(phone.display)
        self._refresh()

    def display_text(self) -> str:
        """What the handset's display shows now (the visible lines)."""
        lines = list(self.view.visible)
        if self.view.more_below:
            lines.append("v more (Down)".rjust(WIDTH))
        return "\n".join(lines)

    def inbox_text(self) -> str:
        phone = self.phones.current
        if not phone.inbox:
            unavailable = self.target is not None and not self.target.sms.available
            return "(this server has no dev SMS inbox)" if unavailable else "(no messages)"
        return "\n\n".join(f"{datetime.fromtimestamp(m.at / 1e6):%H:%M:%S}  {m.text}" for m in phone.inbox)

    def status_text(self) -> str:
        phone = self.phones.current
        head = f"{phone.local} {phone.operator} ({phone.network_code})"
        session = phone.session
        if session is None:
            line = "no session"
        elif session.closed:
            line = f"session ended: {session.status}"
        else:
            line = f"hop {session.hops} - {int(session.seconds_left())} s to answer"
        return "\n".join([head, line, self._notice])

    def _refresh(self) -> None:
        display = self._desk("#display", Static)
        display.update(self.display_text())
        phone = self.phones.current
        session = phone.session
        kind = phone.screen.kind if phone.screen else ""
        title = f"{kind} {session.session_id[:14]}" if session and kind else "USSD"
        display.border_title = phone.prompt.wallet if phone.prompt else title
        self._desk("#status", Static).update(self.status_text())
        keypad = self._desk("#keypad", Input)
        keypad.password = phone.prompt is not None  # a MoMo PIN is not shown as it is typed
        if phone.prompt is not None:
            keypad.placeholder = f"MoMo PIN, or {REJECT} to reject"
        elif self.target is not None:
            idle = f"{self.target.shortcode} then Enter"
            keypad.placeholder = "your answer, then Enter" if phone.in_session else idle
        self._desk("#messages", Static).update(self.inbox_text())
        self._refresh_phone_list()

    def _refresh_phone_list(self) -> None:
        listing = self._desk("#phones", OptionList)
        labels = [
            ("> " if i == self.phones.index else "  ")
            + f"{p.local} {p.operator}"
            + (" *" if p.in_session else "")
            + (" MoMo" if p.prompts else "")
            + (f" ({p.unread} new)" if p.unread else "")
            for i, p in enumerate(self.phones)
        ]
        if [str(o.prompt) for o in listing.options] != labels:
            listing.clear_options()
            listing.add_options(labels)
            listing.highlighted = self.phones.index
