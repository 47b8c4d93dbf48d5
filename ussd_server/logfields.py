"""Request-derived values made safe to log: one log record is one line, whatever a caller sends.

A newline in a ``sessionId`` would otherwise start what looks like a log
record of its own (``...\\n2026-12-01 INFO forged``), and a terminal escape or
a bidi override could hide or reorder text in a viewer. Every value that came
from a request goes through :func:`logfield` (or :func:`log_phone`) before it
reaches a log call.
"""

from __future__ import annotations

from engine.kernel.errors import EnerlectraError
from engine.kernel.phones import mask_phone
from ussd_server.phones import parse_zambian_mobile

DEFAULT_MAX_CHARS = 200
_PHONE_MAX_CHARS = 32  # longer than any way of writing a phone number


def logfield(value: object, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """``value`` with backslashes and every non-printable character escaped as ``repr`` does, capped.

    ``"a\\nb"`` -> ``a\\\\nb`` (a backslash and ``n``). Escaping the backslash
    too means an escape written by the caller cannot pass for one of ours.
    """
    text = str(value)
    cut = len(text) - max_chars
    if cut > 0:
        text = text[:max_chars]
    if not text.isprintable() or "\\" in text:
        text = "".join(_escape(ch) for ch in text)
    return f"{text}...(+{cut} chars)" if cut > 0 else text


def _escape(ch: str) -> str:
    if ch == "\\":
        return "\\\\"
    # repr(ch) is "'\n'", "'\x1b'", "'\u2028'"...: the escape without its quotes.
    return ch if ch.isprintable() else repr(ch)[1:-1]


def log_phone(raw: str) -> str:
    """A caller's number as logs show it: normalised when it parses, then masked, then escaped."""
    try:
        phone = parse_zambian_mobile(raw)
    except EnerlectraError:
        phone = raw.strip()[:_PHONE_MAX_CHARS]
    return logfield(mask_phone(phone), _PHONE_MAX_CHARS * 2)
