"""Session <-> msgpack bytes.

Decoding treats stored bytes as untrusted: anything that is not a well-formed
session (garbage, truncated data, a different schema, wrong field types) reads
as a missing session, so the hop starts over instead of crashing.
"""

from __future__ import annotations

import logging
from typing import Any

import msgpack

from ussd_server.sessions.model import Session

log = logging.getLogger(__name__)


def encode(session: Session) -> bytes:
    data: bytes = msgpack.packb(session.to_wire(), use_bin_type=True)
    return data


def decode(data: bytes) -> Session | None:
    try:
        wire = msgpack.unpackb(data, raw=False)
        if not isinstance(wire, dict):
            raise TypeError(f"expected a map, got {type(wire).__name__}")
        session = Session.from_wire(wire)
        _check_types(session)
    # msgpack raises a zoo of errors on hostile input (ValueError, TypeError for
    # unhashable keys, ExtraData, StackError, ...): all mean "no usable session".
    except Exception as exc:
        log.warning("undecodable session data (%d bytes): %s", len(data), exc)
        return None
    return session


def encode_id(session_id: str) -> bytes:
    """A session id as stored in a resume pointer (ids are untrusted text, surrogates included)."""
    return session_id.encode("utf-8", "surrogatepass")


def decode_id(data: bytes) -> str | None:
    """The id in a resume pointer, None if it is not text (left by an older release or written by hand)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _check_types(session: Session) -> None:
    """Fields the hop relies on must have their declared types, or the hop would crash later."""
    text_fields: tuple[Any, ...] = (
        session.id,
        session.phone,
        session.service_code,
        session.state,
        session.language,
        session.last_digest,
        session.last_reply,
        session.nonce,
    )
    if not all(isinstance(value, str) for value in text_fields):
        raise TypeError("a text field is not a string")
    if not all(isinstance(k, str) and isinstance(v, str | int) for k, v in session.values.items()):
        raise TypeError("values must map strings to strings or integers")
    if not all(isinstance(screen, str) for screen in session.back):
        raise TypeError("back stack entries must be strings")
    if session.user_id is not None and not isinstance(session.user_id, int):
        raise TypeError("user_id must be an integer or None")
