"""What one USSD reply may hold: the ``CON ``/``END `` prefix and the screen limit.

The only place these numbers live. The renderer fits a screen's text to
:data:`TEXT_BUDGET`, the menu lint measures static screens against
:data:`SCREEN_LIMIT`, the gateway fits its own ``END`` replies the same way,
and the tests import them instead of writing 160 again.
"""

from __future__ import annotations

from dataclasses import dataclass

CONTINUE = "CON "  # the phone waits for the next input
END = "END "  # the phone closes the session
PREFIX_LENGTH = len(CONTINUE)  # END is as long: one budget serves both
# The whole reply, prefix included, in GSM-7 septets. Frameworks paginate at 182 but
# carriers differ, and 160 is what every handset shows as one screen.
SCREEN_LIMIT = 160
TEXT_BUDGET = SCREEN_LIMIT - PREFIX_LENGTH  # what a screen's own text may use


@dataclass(frozen=True, slots=True)
class Reply:
    """A rendered screen: its text (within :data:`TEXT_BUDGET`) and whether it ends the session."""

    text: str
    end: bool

    @property
    def body(self) -> str:
        return (END if self.end else CONTINUE) + self.text
