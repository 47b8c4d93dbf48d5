"""How USSD sessions end, as kept for the funnel (never what people typed)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UssdSessionEnd:
    """The gateway's end-of-session notification, as kept for analytics (never the inputs)."""

    session_id: str
    status: str  # Success / Incomplete / Failed
    last_screen: str = ""
    hops: int = 0
    duration_ms: int = 0
    error: str = ""


@dataclass(frozen=True, slots=True)
class ScreenFunnel:
    """How sessions ended on one screen."""

    screen: str
    sessions: int
    completed: int
    dropped: int
