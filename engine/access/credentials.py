"""Making secrets, and the keyed hash that is all the database ever holds of them.

API keys and sign-in tokens are 256 random bits, so a plain SHA-256 of one
would already be safe to store; the hash is keyed anyway (HMAC-SHA256) so the
same function can fingerprint requests, whose bodies may hold a 4-digit PIN:
an unkeyed hash of those would give the PIN back in 10,000 guesses to anyone
holding a copy of the database.

The key is derived from the PIN pepper (``PIN_PEPPER``) under a label of its
own, so there is no second secret to provision, and it never equals the
pepper. Changing the pepper invalidates every PIN hash anyway; it then also
invalidates every API key and token, and idempotency records stop matching
(their retries are refused as reused keys for 24 h at most).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

API_KEY_PREFIX = "enk_"  # a recognisable prefix lets secret scanners find a leaked key
USER_TOKEN_PREFIX = "ent_"
SECRET_BYTES = 32
_LABEL = b"enerlectra/access-credentials/v1"


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(SECRET_BYTES)


def new_key_id() -> str:
    """The public name of an API key (listed and revoked by it); says nothing about its secret."""
    return "key_" + secrets.token_hex(6)


class CredentialHasher:
    """HMAC-SHA256 under a key derived from the PIN pepper."""

    __slots__ = ("_key",)

    def __init__(self, pepper: bytes) -> None:
        self._key = hmac.new(pepper, _LABEL, hashlib.sha256).digest()

    def hash(self, secret: str) -> str:
        return hmac.new(self._key, secret.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()

    def fingerprint(self, *parts: bytes) -> str:
        """One hash over several parts; each is length-prefixed, so no two splits of the same bytes agree."""
        mac = hmac.new(self._key, b"fingerprint", hashlib.sha256)
        for part in parts:
            mac.update(len(part).to_bytes(8, "big"))
            mac.update(part)
        return mac.hexdigest()
