"""The session a hop restores and saves.

Kept small (the wire form uses one-letter keys) because every hop reads and
writes it. It never holds a PIN: the last request text is kept only as a
keyed digest (the cumulative text contains whatever PIN was typed), and a PIN
being set is carried as its final salted, peppered hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

Value = str | int

# Derives the text-digest key from the PIN pepper: a key of its own, so the
# digest can never be used to test a guess against anything else.
_DIGEST_LABEL = b"enerlectra/ussd-text-digest/v1"


class TextDigest:
    """Identifies a request's cumulative text for replay detection, without storing it.

    The text holds every PIN typed in the session, and everything else in it
    is easy to guess, so an unkeyed digest would give the PIN away in 10,000
    tries. Keyed with a secret derived from the server's pepper, a digest read
    from Redis (or a backup of it) tells nothing without that secret.
    """

    __slots__ = ("_key",)

    def __init__(self, pepper: bytes) -> None:
        self._key = hmac.new(pepper, _DIGEST_LABEL, hashlib.sha256).digest()

    def __call__(self, text: str) -> str:
        data = text.encode("utf-8", "surrogatepass")
        return hashlib.blake2b(data, key=self._key, digest_size=12).hexdigest()


def new_nonce() -> str:
    """Set once when a session is made: tells it apart from an earlier one that had the same gateway id."""
    return secrets.token_hex(8)


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
    nonce: str = ""  # random, set when the session is made (see new_nonce)
    strikes: int = 0  # mistakes the menu counts for the whole session (e.g. PINs that did not match)

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
            "o": self.nonce,
            "k": self.strikes,
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
            nonce=data.get("o", ""),
            strikes=int(data.get("k", 0)),
        )
