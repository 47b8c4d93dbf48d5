"""Access tokens: issued by the token endpoints, checked on every API call, revocable from ``/_sim``."""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from collections.abc import Callable

from aiohttp import web


class Tokens:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._issued: dict[str, tuple[str, float]] = {}  # token -> (scope, expires at)

    def issue(self, scope: str, ttl_s: int) -> str:
        token = secrets.token_urlsafe(24)
        self._issued[token] = (scope, self._clock() + ttl_s)
        return token

    def valid(self, request: web.Request, scope: str) -> bool:
        header = request.headers.get("Authorization", "")
        kind, _, token = header.partition(" ")
        if kind.lower() != "bearer" or not token:
            return False
        issued = self._issued.get(token.strip())
        return issued is not None and issued[0] == scope and issued[1] > self._clock()

    def revoke_all(self) -> int:
        """Every token stops working at once (the next call answers 401); how many there were."""
        count = len(self._issued)
        self._issued.clear()
        return count


def basic_credentials(request: web.Request) -> tuple[str, str] | None:
    """(user, password) from ``Authorization: Basic ...``; None when absent or malformed."""
    kind, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if kind.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def same(given: str, expected: str) -> bool:
    return secrets.compare_digest(given.encode(), expected.encode())
