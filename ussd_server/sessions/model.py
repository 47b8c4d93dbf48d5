"""The session a hop restores and saves.

Kept small (the wire form uses one-letter keys) because every hop reads and
writes it. It never holds a PIN: the last request text is kept only as a
digest (the cumulative text contains whatever PIN was typed), and a PIN being
set is carried as its final salted hash.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

Value = str | int


def text_digest(text: str) -> str:
    """Identifies a request's cumulative text for replay detection without storing it."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


@dataclass(slots=True)
class Session:
    id: str
    phone: str
    service_code: str = ""
    state: str = ""
    values: dict[str, Value] = field(default_factory=dict)  # what the user entered or picked
    language: str = "en"
    page: int = 0  # paging cursor of the current list screen
    back: list[str] = field(default_factory=list)  # screens to return to with "0"
    last_digest: str = ""  # digest of the last request's text
    last_len: int = 0  # its length: the newest input is what follows it
    last_reply: str = ""  # the full reply sent for it ("CON ..." / "END ...")
    invalid: int = 0  # invalid inputs in a row on the current screen
    hops: int = 0
    user_id: int | None = None
    started_ms: int = 0
    ended: bool = False

    def to_wire(self) -> dict[str, Any]:
        return {
            "i": self.id,
            "p": self.phone,
            "c": self.service_code,
            "s": self.state,
            "v": self.values,
            "l": self.language,
            "g": self.page,
            "b": self.back,
            "d": self.last_digest,
            "n": self.last_len,
            "r": self.last_reply,
            "x": self.invalid,
            "h": self.hops,
            "u": self.user_id,
            "t": self.started_ms,
            "e": self.ended,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Session:
        return cls(
            id=data["i"],
            phone=data["p"],
            service_code=data.get("c", ""),
            state=data.get("s", ""),
            values=dict(data.get("v") or {}),
            language=data.get("l", "en"),
            page=int(data.get("g", 0)),
            back=list(data.get("b") or []),
            last_digest=data.get("d", ""),
            last_len=int(data.get("n", 0)),
            last_reply=data.get("r", ""),
            invalid=int(data.get("x", 0)),
            hops=int(data.get("h", 0)),
            user_id=data.get("u"),
            started_ms=int(data.get("t", 0)),
            ended=bool(data.get("e", False)),
        )
