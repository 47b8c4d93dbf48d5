"""The longest reply each screen rendered over a whole e2e run, per language (.screen_lengths.json).

The e2e gateways record every checked reply with the screen the session was
on, so a rewording that pushes a screen towards the 160-character limit shows
in the summary before it breaks a handset.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ussd_server.gsm7 import gsm7_length


@dataclass
class ScreenStat:
    chars: int = 0
    septets: int = 0
    hops: int = 0
    by_language: dict[str, int] = field(default_factory=dict)
    longest: str = ""


class ScreenLog:
    """Longest reply seen per screen (and per language) over a whole test session."""

    def __init__(self) -> None:
        self.screens: dict[str, ScreenStat] = {}

    def record(self, screen: str, language: str, body: str) -> None:
        stat = self.screens.setdefault(screen, ScreenStat())
        stat.hops += 1
        chars, septets = len(body), gsm7_length(body)
        if chars > stat.chars:
            stat.chars, stat.longest = chars, body
        stat.septets = max(stat.septets, septets)
        stat.by_language[language] = max(stat.by_language.get(language, 0), chars)

    def as_json(self) -> dict[str, Any]:
        return {
            name: {
                "max_chars": s.chars,
                "max_septets": s.septets,
                "by_language": dict(sorted(s.by_language.items())),
                "hops": s.hops,
                "longest": s.longest,
            }
            for name, s in sorted(self.screens.items())
        }

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.as_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    def summary(self) -> list[str]:
        langs = ("en", "ny", "bem")
        lines = [f"{'screen':<24} {'max':>4} {'sept':>4} " + " ".join(f"{x:>4}" for x in langs) + "  hops"]
        for name, s in sorted(self.screens.items(), key=lambda kv: (-kv[1].chars, kv[0])):
            per = " ".join(f"{s.by_language.get(x, 0) or '-':>4}" for x in langs)
            lines.append(f"{name:<24} {s.chars:>4} {s.septets:>4} {per}  {s.hops}")
        return lines
