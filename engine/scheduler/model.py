"""A scheduled job: what to do (``kind``), for what (``key``), and when it is due.

A job is identified by its ``(kind, key)`` pair, so scheduling the same work
twice moves one job instead of queueing two (a proposal has one job that
wakes it at each of its deadlines). A handler that raises is retried with
exponential backoff; after ``max_attempts`` failures in a row the job is
dead and waits for an operator, who sees why in ``last_error``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from engine.kernel.clock import MICROS_PER_SECOND


class JobState(enum.StrEnum):
    DUE = "due"  # waiting for its time, or claimed by a worker until its lease ends
    DONE = "done"
    DEAD = "dead"  # failed max_attempts times in a row: an operator decides


@dataclass(frozen=True, slots=True)
class Job:
    kind: str  # which handler runs it, e.g. "coop.proposal"
    key: str  # what it is about, e.g. a proposal's id
    due_at_us: int
    payload: dict[str, str | int] = field(default_factory=dict)
    state: JobState = JobState.DUE
    attempts: int = 0  # failures since the last success (a claim counts once it fails)
    lease_until_us: int = 0  # a claim: no other worker takes it before this
    last_error: str = ""
    id: int = 0  # given by the store
    claims: int = 0  # how many times a worker claimed it (its compare-and-set token)
    updated_at_us: int = 0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff from ``first_s`` doubling to at most ``cap_s``; dead after ``max_attempts``."""

    max_attempts: int = 8
    first_s: int = 30
    cap_s: int = 3600
    lease_s: int = 30  # how long a claim lasts before another worker may take it (handlers take well under a second)

    def retry_at_us(self, now_us: int, attempts: int) -> int | None:
        """When a job that has now failed ``attempts`` times runs again; None when it is dead."""
        if attempts >= self.max_attempts:
            return None
        delay_s: int = min(self.first_s << max(attempts - 1, 0), self.cap_s)
        return now_us + delay_s * MICROS_PER_SECOND


@dataclass(frozen=True, slots=True)
class JobCounts:
    due: int = 0  # due now or later, claimed or not
    overdue: int = 0  # due before now and not running
    dead: int = 0
    done: int = 0
    oldest_due_us: int | None = None  # the earliest due_at among overdue jobs (the scheduler's lag)
