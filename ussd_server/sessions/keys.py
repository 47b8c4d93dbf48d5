"""Every Redis key prefix and session time limit, in one place (like arq's constants).

Key layout (``{...}`` is a Redis Cluster hash tag, so a session and its lock
always live in the same slot)::

    enerlectra:ussd:{<session tag>}:s      the session (msgpack), TTL DEFAULT_SESSION_TTL_S
    enerlectra:ussd:{<session tag>}:lock   the hop lock, TTL LOCK_TTL_MS
    enerlectra:resume:{<phone tag>}        id of the phone's latest dial (resume pointer), own TTL
    enerlectra:hops:{<phone tag>}          the phone's hops in its current window (HOPS_PER_MINUTE), TTL the window
    enerlectra:rate:LIMITER/{<name>/<identity tags>}/<n>/<multiples>/<unit>
                                           a rate-limit counter (ussd_server/rate_limits.py), TTL the window

Session ids (and phones) come from the gateway and are untrusted. A value of
1..MAX_TAG_CHARS characters from ``[A-Za-z0-9_.:+-]`` is used verbatim, which
covers Africa's Talking ids (``ATUid_<32 hex>``) and E.164 phones, and keeps
keys readable in redis-cli. Anything else (empty, too long, braces, spaces,
non-ASCII) becomes ``#`` + a 128-bit BLAKE2b hex digest: the result is short,
brace-free (so the hash tag cannot be broken or widened) and cannot collide
with a verbatim value, because ``#`` is outside the verbatim alphabet. The
in-process store applies the same mapping so both stores agree on which ids
are "the same session".

This module imports nothing internal: it is the leaf every store builds on.
"""

from __future__ import annotations

import hashlib
import re

KEY_PREFIX = "enerlectra:"  # tests pass their own prefix to get a private namespace
SESSION_NAMESPACE = "ussd:"
RESUME_NAMESPACE = "resume:"
HOPS_NAMESPACE = "hops:"
HOP_WINDOW_MS = 60_000  # HOPS_PER_MINUTE counts in windows of a minute
# The limits library adds ":" and its own "LIMITER/..." key after this namespace.
RATE_NAMESPACE = "rate"
# Rate-limit names: the first part of every limiter identity (trusted constants, never user input).
RATE_AUTH_FAILURES = "auth-failures"  # failed gateway authentications per caller address
RATE_PIN_CHECKS = "pin-checks"  # PIN checks (slow KDF runs) per phone
RATE_API_SIGN_IN_FAILURES = "api-sign-in-failures"  # failed API sign-ins per caller address
SESSION_SUFFIX = ":s"
LOCK_SUFFIX = ":lock"

# AT ends a USSD session after ~180 s; keeping it longer only wastes memory.
DEFAULT_SESSION_TTL_S = 180
# Longest one Redis command may take (sessions and rate limits) before the hop answers busy:
# a dead or hung Redis then costs a hop about a second at most.
COMMAND_TIMEOUT_MS = 500
# How long a dropped session can be resumed by dialling again (settings.resume_window_s).
DEFAULT_RESUME_TTL_S = 300
# A hop must answer within AT's ~10-15 s; a lock older than that belongs to a dead hop.
LOCK_TTL_MS = 15_000
# How long a hop waits for the hop ahead of it before answering "busy".
LOCK_WAIT_S = 5.0
# Lock polling starts fast (a replayed hop usually waits a few ms) and backs off.
LOCK_POLL_MIN_S = 0.005
LOCK_POLL_MAX_S = 0.05

MAX_TAG_CHARS = 200
_VERBATIM = re.compile(rf"[A-Za-z0-9_.:+\-]{{1,{MAX_TAG_CHARS}}}")
HASHED_TAG_MARK = "#"


def tag(value: str) -> str:
    """The hash-tag-safe form of an untrusted session id or phone."""
    if _VERBATIM.fullmatch(value):
        return value
    digest = hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    return HASHED_TAG_MARK + digest


def check_prefix(prefix: str) -> str:
    """Rejects a prefix that would put a brace before the hash tag (Redis uses the first ``{``)."""
    if "{" in prefix or "}" in prefix:
        raise ValueError(f"key prefix must not contain braces: {prefix!r}")
    return prefix


def check_ttl(ttl_s: float) -> None:
    """A zero or negative TTL is a programming error, not an unavailable store."""
    if ttl_s <= 0:
        raise ValueError(f"ttl_s must be positive, got {ttl_s}")


def session_key(session_id: str, prefix: str = KEY_PREFIX) -> str:
    return f"{prefix}{SESSION_NAMESPACE}{{{tag(session_id)}}}{SESSION_SUFFIX}"


def lock_key(session_id: str, prefix: str = KEY_PREFIX) -> str:
    return f"{prefix}{SESSION_NAMESPACE}{{{tag(session_id)}}}{LOCK_SUFFIX}"


def resume_key(phone: str, prefix: str = KEY_PREFIX) -> str:
    return f"{prefix}{RESUME_NAMESPACE}{{{tag(phone)}}}"


def hops_key(phone: str, prefix: str = KEY_PREFIX) -> str:
    return f"{prefix}{HOPS_NAMESPACE}{{{tag(phone)}}}"


def rate_key_prefix(prefix: str = KEY_PREFIX) -> str:
    return f"{check_prefix(prefix)}{RATE_NAMESPACE}"


def rate_identity(*parts: str) -> str:
    """One hash tag for a limit and who it counts: ``{auth-failures/10.0.0.7}``.

    Every part goes through :func:`tag`, whose output has neither braces nor
    ``/`` (the limits library's separator), so an untrusted part can neither
    break the hash tag nor pass for two parts.
    """
    return "{" + "/".join(tag(part) for part in parts) + "}"
