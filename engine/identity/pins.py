"""PIN hashing: scrypt over an HMAC of the PIN with a server-side pepper.

A 4-digit PIN has only 10,000 values, so a slow KDF alone cannot protect a
leaked database; the pepper (kept out of the database, in settings) does.
The hash string records its parameters, so the cost can be raised later
without invalidating existing PINs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from engine.identity.common_pins import is_common_pin
from engine.kernel.errors import InvalidPinFormat, WeakPin

PIN_LENGTH = 4
_SCHEME = "scrypt"


def validate_pin(pin: str) -> str:
    """Return the PIN if it is 4 digits and not one of the PINs people pick most."""
    if len(pin) != PIN_LENGTH or not pin.isascii() or not pin.isdigit():
        raise InvalidPinFormat("PIN must be 4 digits")
    if is_common_pin(pin):
        raise WeakPin("PIN too easy to guess")
    return pin


def new_one_time_pin() -> str:
    """A random PIN an operator reset sends by SMS (never a common one, so it passes :func:`validate_pin`)."""
    while True:
        pin = f"{secrets.randbelow(10**PIN_LENGTH):0{PIN_LENGTH}d}"
        if not is_common_pin(pin):
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
