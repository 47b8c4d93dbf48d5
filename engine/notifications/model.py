"""SMS waiting in the outbox: written with what they report, sent by the delivery worker."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from engine.kernel.language import Language


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    DEAD = "dead"
    # Over the recipient's daily SMS cap: kept for audit, never sent (their daily summary stands for it).
    FOLDED = "folded"


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """An SMS to send, written in the same transaction as what it reports.

    The text is rendered at delivery from ``template`` in the recipient's
    language, so the engine never holds message catalogs.
    """

    dedupe_key: str
    recipient: str
    language: Language
    template: str
    params: dict[str, str | int]
    created_at: int = 0  # microseconds; 0 lets the store stamp its own clock


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    message: OutboxMessage
    status: OutboxStatus
    attempts: int = 0
    next_attempt_at: int = 0
    last_error: str = ""
    provider_ref: str = ""
