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
import os
import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from engine.common_pins import is_common_pin
from engine.errors import InvalidPinFormat, PinBusy, WeakPin

_T = TypeVar("_T")

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


class KdfQueue:
    """The process's PIN KDF threads, and a bound on how long a new check may wait for them.

    The KDF is slow on purpose. It runs on its own threads, one fewer than
    there are cores, so a burst of PIN checks can never starve the event loop
    that answers every other hop (the default executor has cores + 4). Under
    a burst the checks queue instead, and a check that waits longer than the
    gateway will hold the session is worse than none: the caller loses the
    session while their purchase may still go through. So a check whose
    expected wait exceeds its budget is refused up front with
    :class:`PinBusy`, before anything (such as a PIN attempt) is counted.

    Only event-loop code touches the counters; the threads only run the KDF.
    """

    # Weight of the newest KDF time in the running estimate: a few checks
    # follow a change of load without one slow outlier swinging the bound.
    _SMOOTHING = 0.2

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._pool: ThreadPoolExecutor | None = None
        self._pending = 0  # admitted checks not finished yet (queued, running, or about to be)
        self._kdf_s: float | None = None  # running estimate of one KDF on one thread
        self.shed = 0  # checks refused as busy since start (for operators: /health)
        self.runs = 0  # KDF runs (PIN hashes and checks) since start

    @property
    def pending(self) -> int:
        return self._pending

    def expected_wait_s(self) -> float:
        """How long a check admitted now would queue before a thread starts it."""
        if self._kdf_s is None:
            return 0.0
        return self._pending / self.workers * self._kdf_s

    @contextmanager
    def admit(self, max_wait_s: float | None) -> Iterator[None]:
        """Hold a place in the queue, or raise :class:`PinBusy` (``None``: no bound)."""
        if max_wait_s is not None and self.expected_wait_s() > max_wait_s:
            self.shed += 1
            raise PinBusy("PIN checks are queued past their wait budget", wait_ms=int(self.expected_wait_s() * 1000))
        self._pending += 1
        try:
            yield
        finally:
            self._pending -= 1

    async def hash(self, pin: str, *, pepper: bytes, log2_n: int, max_wait_s: float | None) -> str:
        with self.admit(max_wait_s):
            return await self.run(lambda: hash_pin(pin, pepper=pepper, log2_n=log2_n))

    async def check(self, pin: str, stored: str, *, pepper: bytes, max_wait_s: float | None) -> bool:
        with self.admit(max_wait_s):
            return await self.run(lambda: check_pin(pin, stored, pepper=pepper))

    async def run(self, fn: Callable[[], _T]) -> _T:
        """Run one KDF call on the queue's threads and learn how long it took."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="pin-kdf")
        self.runs += 1
        result, elapsed = await asyncio.get_running_loop().run_in_executor(self._pool, _timed, fn)
        previous = self._kdf_s
        self._kdf_s = elapsed if previous is None else previous + self._SMOOTHING * (elapsed - previous)
        return result


def _timed(fn: Callable[[], _T]) -> tuple[_T, float]:
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def usable_cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's core count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 2


# One per process by default: its threads stand for the machine's cores,
# whichever platform asks.
kdf_queue = KdfQueue(workers=usable_cores() - 1)
