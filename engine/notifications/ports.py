"""What the outbox needs from a database: queueing inside a unit of work, and delivery."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from engine.kernel.events import EventSource
from engine.ledger.ports import LedgerReader
from engine.notifications.model import OutboxMessage, OutboxRow, OutboxStatus


class OutboxReader(Protocol):
    async def list_outbox(self, *, recipient: str | None = None, limit: int = 50) -> list[OutboxRow]:
        """Newest first."""
        ...


class OutboxWriter(OutboxReader, Protocol):
    async def add_outbox(self, messages: Sequence[OutboxMessage], *, folded: bool = False, due_at: int = 0) -> int:
        """Queue messages; a ``dedupe_key`` already queued is skipped. Returns rows added.

        ``folded`` stores them as :attr:`OutboxStatus.FOLDED` (kept, never
        sent); ``due_at`` (microseconds) holds them back until then. A message
        whose ``created_at`` is 0 is stamped with the store's clock. Services
        queue through :func:`engine.notifications.queue`, which applies the
        daily SMS cap, rather than calling this directly.
        """
        ...

    async def existing_outbox_keys(self, dedupe_keys: Sequence[str]) -> set[str]:
        """The keys among ``dedupe_keys`` that some outbox row has already, whatever its status."""
        ...

    async def count_outbox_since(
        self, recipients: Sequence[str], since_us: int, *, excluding_templates: Sequence[str]
    ) -> dict[str, int]:
        """Per recipient, rows created at or after ``since_us`` that are not folded, leaving out some templates.

        Holds each recipient's count until the transaction ends: a concurrent
        unit of work counting one of them waits for this one to commit, so a
        count followed by inserts stays exact. Recipients with no rows are absent.
        """
        ...


class OutboxQueue(Protocol):
    """The delivery side of the outbox: each method is one short transaction of its own.

    A claim is a lease: it pushes the rows' ``next_attempt_at`` to ``now +
    lease_s`` and counts an attempt, without changing their status. A worker
    that dies holding a lease loses nothing: the rows fall due again when it
    ends (delivery is at least once). The ``attempt`` a mark names fences off a
    worker whose lease ran out and whose rows were claimed again meanwhile:
    its late mark changes nothing. Marks only move rows that are still
    pending or failed, so a sent, delivered or dead row never goes back.
    """

    async def claim_outbox(self, *, limit: int, lease_s: float) -> list[OutboxRow]:
        """Lease up to ``limit`` due rows (pending or failed, ``next_attempt_at <= now``), oldest due first.

        Never a folded row: those are over a recipient's daily cap and are not sent at all.

        Concurrent claimers (in any number of processes) never get the same row.
        """
        ...

    async def mark_outbox_sent(self, row_id: int, provider_ref: str, *, attempt: int | None = None) -> bool:
        """The provider accepted the message. False if the row was not ours to mark any more."""
        ...

    async def mark_outbox_retry(
        self, row_id: int, error: str, next_attempt_at: int, *, attempt: int | None = None
    ) -> bool:
        """Sending failed for now: status ``failed``, due again at ``next_attempt_at``."""
        ...

    async def mark_outbox_dead(self, row_id: int, error: str, *, attempt: int | None = None) -> bool:
        """Give up on the row: status ``dead`` with the reason."""
        ...

    async def record_delivery_report(self, provider_ref: str, *, delivered: bool, reason: str = "") -> bool:
        """The carrier's final word on a sent message: ``delivered``, or ``dead`` with ``reason``.

        Only a row in status ``sent`` changes; False for an unknown reference
        or a repeated report.
        """
        ...

    async def scrub_outbox_params(self, row_id: int, params: dict[str, str | int]) -> bool:
        """Overwrite a settled row's parameters (its secrets are no longer needed); False if not settled."""
        ...

    async def outbox_counts(self) -> dict[OutboxStatus, int]:
        """Rows per status, every status present."""
        ...


class ReceiptContext(EventSource, Protocol):
    """What an SMS receipt handler reads and writes in the unit of work whose event it reports.

    Receipts carry balances as they are after the operation, so handlers read the ledger too.
    """

    @property
    def ledger(self) -> LedgerReader: ...

    @property
    def outbox(self) -> OutboxWriter: ...
