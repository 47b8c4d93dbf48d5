"""What a PIN attempt does to a user's PIN state, and proof that a PIN was just checked.

Rules (pure; :class:`engine.users.UserService` applies them in a transaction):

- every attempt is counted before its slow hash is checked, so concurrent
  guesses can never check more PINs than allowed;
- the attempt that makes ``pin_max_failures`` locks the PIN for the next
  stage of ``pin_lock_stages_s`` (30 minutes, then 24 hours by default), and
  after the last stage until an operator resets it;
- a right PIN clears the count, the lock and the stage; the lifetime count of
  wrong PINs is never cleared (operators see it).

A :class:`PinProof` is what :meth:`UserService.verify_pin` returns for a right
PIN. Changing the PIN requires one, issued by this process moments ago: it
cannot be forged (an HMAC with a key that never leaves the process), stored
for later (it expires within a hop's deadline) or carried to another process.
So no entry point can change a PIN without checking the current one in the
same request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import replace

from engine.identity.model import LOCKED_UNTIL_RESET, PinProof, User
from engine.kernel.clock import MICROS_PER_SECOND
from engine.kernel.config import EngineConfig
from engine.kernel.errors import PinLocked

# A proof lives no longer than a USSD hop may take (the gateway gives up after ~10-15 s).
PIN_PROOF_TTL_S = 15


class ProofMint:
    """Issues and checks :class:`PinProof` s with a key made when the process starts."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def _seal(self, user_id: int, issued_us: int) -> bytes:
        return hmac.new(self._key, f"pin-proof|{user_id}|{issued_us}".encode(), hashlib.sha256).digest()

    def issue(self, user_id: int, now_us: int) -> PinProof:
        return PinProof(user_id, now_us, self._seal(user_id, now_us))

    def valid(self, proof: PinProof, user_id: int, now_us: int) -> bool:
        fresh = 0 <= now_us - proof.issued_us <= PIN_PROOF_TTL_S * MICROS_PER_SECOND
        genuine = hmac.compare_digest(proof.seal, self._seal(proof.user_id, proof.issued_us))
        return fresh and genuine and proof.user_id == user_id


def lock_until(user: User, config: EngineConfig, now_us: int) -> int:
    """When a lock starting now ends: the next stage, or never (until an operator resets the PIN)."""
    stages = config.pin_lock_stages_s
    if user.pin_lock_stage >= len(stages):
        return LOCKED_UNTIL_RESET
    return now_us + stages[user.pin_lock_stage] * MICROS_PER_SECOND


def count_attempt(user: User, config: EngineConfig, now_us: int) -> User:
    """The state after one more attempt, counted as wrong until its hash says otherwise."""
    failures = user.pin_failures + 1
    total = user.pin_failures_total + 1
    if failures < config.pin_max_failures:
        return replace(user, pin_failures=failures, pin_failures_total=total)
    return replace(
        user,
        pin_failures=0,
        pin_failures_total=total,
        pin_locked_until=lock_until(user, config, now_us),
        pin_lock_stage=user.pin_lock_stage + 1,
    )


def right_pin(user: User) -> User:
    """A right PIN undoes what its own attempt counted, and every earlier wrong try and lock."""
    return replace(
        user,
        pin_failures=0,
        pin_failures_total=max(user.pin_failures_total - 1, 0),
        pin_locked_until=0,
        pin_lock_stage=0,
    )


def locked_error(user: User) -> PinLocked:
    return PinLocked(
        "too many wrong PINs",
        until_us=user.pin_locked_until,
        until_reset=user.locked_until_reset,
    )
