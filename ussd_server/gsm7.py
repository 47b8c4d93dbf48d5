"""GSM 03.38 (GSM-7): which characters a USSD screen can show, and how many it holds.

One character outside GSM-7 switches a message to UCS-2 and cuts the screen to
~70 characters, so text from people (names) is folded into GSM-7 before it is
shown, and catalog texts are checked at start-up. How many characters a reply
may hold is ussd_server/menu/reply.py's to say.
"""

from __future__ import annotations

import unicodedata

_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_EXTENDED = "^{}\\[~]|€\f"
BASIC = frozenset(_BASIC)
EXTENDED = frozenset(_EXTENDED)
_GSM7 = BASIC | EXTENDED
_REPLACEMENTS = {"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "...", "\t": " "}


def is_gsm7(text: str) -> bool:
    return _GSM7.issuperset(text)  # one pass in C


def gsm7_length(text: str) -> int:
    """Septets used: extended characters take two (an escape and the character)."""
    # Called on every line of every screen: most hold no extended character, which one pass in C tells;
    # otherwise str.count per extended character runs in C too.
    if EXTENDED.isdisjoint(text):
        return len(text)
    return len(text) + sum(text.count(c) for c in _EXTENDED)


def non_gsm7(text: str) -> set[str]:
    return {c for c in text if c not in BASIC and c not in EXTENDED}


def to_gsm7(text: str) -> str:
    """Fold text into GSM-7: typographic quotes to plain ones, accents dropped, the rest to '?'."""
    if _GSM7.issuperset(text):  # the usual case (every value shown on every screen comes here)
        return text
    out = []
    for c in text:
        if c in BASIC or c in EXTENDED:
            out.append(c)
            continue
        c = _REPLACEMENTS.get(c, c)
        if all(x in BASIC or x in EXTENDED for x in c):
            out.append(c)
            continue
        stripped = "".join(x for x in unicodedata.normalize("NFKD", c) if not unicodedata.combining(x))
        out.append(stripped if stripped and is_gsm7(stripped) else "?")
    return "".join(out)


def fit(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` septets, on a line or word boundary where possible."""
    if gsm7_length(text) <= limit:
        return text
    cut, used = [], 0
    for c in text:
        w = 2 if c in EXTENDED else 1
        if used + w > limit - 2:
            break
        cut.append(c)
        used += w
    head = "".join(cut)
    boundary = max(head.rfind("\n"), head.rfind(" "))
    if boundary > limit // 2:
        head = head[:boundary]
    return head.rstrip() + ".."
