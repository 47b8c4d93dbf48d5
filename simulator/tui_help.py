"""F1 in the interactive phone: every key, the USSD conventions and the MoMo prompt, over the desk."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from simulator.momo_prompt import REJECT
from simulator.protocol import Timeouts


class HelpScreen(ModalScreen[None]):
    """F1: the keys and the USSD conventions, over the desk (which keeps running); F1 or Esc closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    #help { width: 86; height: auto; max-height: 90%; border: round $accent; padding: 0 1; background: $surface; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,f1", "close", "Close help")]

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(self.text, id="help-text", markup=False)

    def on_mount(self) -> None:
        panel = self.query_one("#help", VerticalScroll)
        panel.border_title = "Help"
        panel.border_subtitle = "F1 or Esc closes"

    def action_close(self) -> None:
        self.dismiss()


def help_text(code: str, recording: Path | None, t: Timeouts) -> str:
    """What F1 shows: every key, and the conventions of the USSD menus."""
    if recording is not None:
        record = f"every step is being saved to {recording} as you go"
    else:
        record = "off; start with  python -m simulator --record FILE  to save a scenario"
    return "\n".join(
        [
            "Keys",
            f"  Dial       type a USSD code such as {code} and press Enter",
            f"             (Enter on its own, or F2, dials {code})",
            "  Answer     type the option's number or your answer, then Enter",
            "  Hang up    Esc cancels the session on the phone in your hand",
            "  Phones     F3 or Ctrl+N picks up the next phone, F4 one with a new number;",
            "             type a phone number and Enter to pick that one up (added if new)",
            "  SMS        the SMS inbox on the right is the phone in your hand's;",
            "             '(1 new)' in the Phones list means a message on another phone",
            "  MoMo       a deposit's approval pops up on the display, as the provider's push does:",
            f"             any 4-digit MoMo PIN and Enter approves, {REJECT} (or Esc) rejects;",
            "             'MoMo' in the Phones list means a prompt waits on another phone",
            "  Scroll     Up/Down or PgUp/PgDn when the display shows 'v more (Down)'",
            f"  Record     {record}",
            "  Quit       Ctrl+Q (open sessions are cancelled, as when hanging up)",
            "  Help       F1 shows this; F1 or Esc closes it",
            "",
            "USSD menus",
            "  0          back to the previous screen",
            "  00         home: the main menu",
            "  98         more: the next page of a long list",
            "  A wrong answer asks again with the reason; the third in a row ends the session.",
            f"  Answer each screen within {t.answer_s:g} s; a session lasts at most {t.session_s:g} s.",
        ]
    )
