"""PIN hashing: scrypt over an HMAC of the PIN with a server-side pepper.

A 4-digit PIN has only 10,000 values, so a slow KDF alone cannot protect a
leaked database; the pepper (kept out of the database, in settings) does.
The hash string records its parameters, so the cost can be raised later
without invalidating existing PINs.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import itertools
import os
import secrets
from concurrent.futures import ThreadPoolExecutor

from engine.errors import InvalidPinFormat, WeakPin

PIN_LENGTH = 4
_SCHEME = "scrypt"


def validate_pin(pin: str) -> str:
    """Return the PIN if it is 4 digits and not trivially guessable."""
    if len(pin) != PIN_LENGTH or not pin.isascii() or not pin.isdigit():
        raise InvalidPinFormat("PIN must be 4 digits")
    digits = [int(c) for c in pin]
    steps = {b - a for a, b in itertools.pairwise(digits)}
    if steps in ({0}, {1}, {-1}):
        raise WeakPin("PIN too easy to guess")
    return pin


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _derive(pin: str, pepper: bytes, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    peppered = hmac.new(pepper, pin.encode(), hashlib.sha256).digest()
    return hashlib.scrypt(peppered, salt=salt, n=2**log2_n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=32)


def hash_pin(pin: str, *, pepper: bytes, log2_n: int = 14) -> str:
    salt = secrets.token_bytes(16)
    r, p = 8, 1
    key = _derive(pin, pepper, salt, log2_n, r, p)
    return f"{_SCHEME}${log2_n}${r}${p}${_b64(salt)}${_b64(key)}"


def check_pin(pin: str, stored: str, *, pepper: bytes) -> bool:
    """True if ``pin`` matches ``stored``; a malformed or out-of-range hash never matches."""
    try:
        scheme, log2_n, r, p, salt, key = stored.split("$")
        cost, block, parallel = int(log2_n), int(r), int(p)
        salt_bytes, key_bytes = base64.b64decode(salt, validate=True), base64.b64decode(key, validate=True)
    except (ValueError, binascii.Error):
        return False
    # Bounds keep a corrupted row from asking for absurd memory or time.
    if scheme != _SCHEME or not (8 <= cost <= 20 and 1 <= block <= 16 and 1 <= parallel <= 4):
        return False
    candidate = _derive(pin, pepper, salt_bytes, cost, block, parallel)
    return hmac.compare_digest(candidate, key_bytes)


# The KDF is slow on purpose. It runs on its own pool with one thread fewer
# than there are cores, so a burst of PIN checks can never starve the event
# loop that answers every other hop (the default executor has cores + 4).
_kdf_pool: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _kdf_pool
    if _kdf_pool is None:
        _kdf_pool = ThreadPoolExecutor(max_workers=max(1, (os.cpu_count() or 2) - 1), thread_name_prefix="pin-kdf")
    return _kdf_pool


async def hash_pin_async(pin: str, *, pepper: bytes, log2_n: int = 14) -> str:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool(), lambda: hash_pin(pin, pepper=pepper, log2_n=log2_n))


async def check_pin_async(pin: str, stored: str, *, pepper: bytes) -> bool:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool(), lambda: check_pin(pin, stored, pepper=pepper))
