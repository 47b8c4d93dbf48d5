"""Short references people can read aloud: ``K7M3Q-9XP2A``.

Ten characters from a 29-letter alphabet without look-alikes (no 0/O, 1/I/L,
U/V confusion) give 4.2e14 values. A reference is derived from the
operation's id, so a retried operation shows the same reference.
"""

from __future__ import annotations

import hashlib

ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"  # 29 symbols: no 0 1 I L O U V
LENGTH = 10


def reference_for(operation_id: str) -> str:
    number = int.from_bytes(hashlib.sha256(operation_id.encode()).digest()[:12], "big")
    chars = []
    for _ in range(LENGTH):
        number, digit = divmod(number, len(ALPHABET))
        chars.append(ALPHABET[digit])
    return "".join(chars)


def format_reference(reference: str) -> str:
    half = len(reference) // 2
    return f"{reference[:half]}-{reference[half:]}"


def normalize_reference(text: str) -> str | None:
    """Accept what a person types back (any case, with or without the dash)."""
    if not text.isascii():
        return None
    cleaned = text.strip().upper().replace("-", "").replace(" ", "")
    if len(cleaned) != LENGTH or any(c not in ALPHABET for c in cleaned):
        return None
    return cleaned
