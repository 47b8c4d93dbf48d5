"""A USSD screen laid out like a small feature-phone display.

Handsets show about 20-28 columns and a handful of lines; long screens
scroll. Wrapping here (not in the terminal) makes what you see in the
simulator, and in a failed scenario's report, match what a user would see.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

WIDTH = 24
HEIGHT = 6  # lines a small handset shows at once; longer screens scroll
_OPTION = re.compile(r"^(\d+)[ .)]+(.+)$")


def options(text: str) -> list[tuple[str, str]]:
    """The numbered lines of a screen as (number, label): ``1 My balance`` -> ("1", "My balance")."""
    return [(m.group(1), m.group(2)) for m in (_OPTION.match(line.strip()) for line in text.splitlines()) if m]


def wrap(text: str, width: int = WIDTH) -> list[str]:
    """Word-wrap each line of ``text`` to ``width`` columns; words longer than that are broken."""
    lines: list[str] = []
    for line in text.split("\n"):
        lines.extend(
            textwrap.wrap(line, width=width, break_long_words=True, break_on_hyphens=False, drop_whitespace=True)
            or [""]
        )
    return lines


@dataclass
class ScreenView:
    """The visible window of a wrapped screen, moved by the scroll keys."""

    lines: list[str]
    height: int = HEIGHT
    top: int = 0

    @classmethod
    def of(cls, text: str, width: int = WIDTH, height: int = HEIGHT) -> ScreenView:
        return cls(wrap(text, width), height)

    @property
    def max_top(self) -> int:
        return max(0, len(self.lines) - self.height)

    def scroll(self, lines: int) -> None:
        self.top = min(self.max_top, max(0, self.top + lines))

    @property
    def visible(self) -> list[str]:
        return self.lines[self.top : self.top + self.height]

    @property
    def more_below(self) -> bool:
        return self.top < self.max_top


def framed(text: str, *, title: str = "", width: int = WIDTH) -> str:
    """The whole screen in a box, for reports: every line, no scrolling."""
    inner = wrap(text, width)
    head = f" {title} " if title else ""
    top = "+" + head.center(width, "-")[:width] + "+"
    rows = [f"|{line:<{width}}|" for line in inner]
    return "\n".join([top, *rows, "+" + "-" * width + "+"])
