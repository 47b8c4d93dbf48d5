"""The PIN KDF's threads: the adapter behind the engine's :class:`~engine.identity.ports.PinHasher`.

Made once per process when the app (or the CLI) starts, closed when it stops,
and read by ``/health`` for the queue's depth and what it has refused.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from engine.kernel.errors import PinBusy

_T = TypeVar("_T")


class KdfPool:
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

    def close(self) -> None:
        """Stop the threads once the checks running now finish (the app's shutdown)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

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


def kdf_pool_for_this_machine(threads: int = 0) -> KdfPool:
    """``threads`` KDF threads; 0: one fewer than the usable cores, so one always stays with the event loop."""
    return KdfPool(workers=threads or usable_cores() - 1)
