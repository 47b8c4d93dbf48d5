"""The in-memory outbox, its delivery queue and USSD analytics (engine's notifications and analytics ports)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from engine.analytics.model import ScreenFunnel, UssdSessionEnd
from engine.kernel.clock import Clock
from engine.notifications.model import OutboxMessage, OutboxRow, OutboxStatus
from storage.memory.tables import MemoryData, Tables
from storage.tables import outbox_params_json

_DUE = (OutboxStatus.PENDING, OutboxStatus.FAILED)
_SETTLED = (OutboxStatus.SENT, OutboxStatus.DELIVERED, OutboxStatus.DEAD)


def _copy(row: OutboxRow) -> OutboxRow:
    """A row as a read hands it out: its parameters are the caller's to change, never the table's."""
    return replace(row, message=replace(row.message, params=dict(row.message.params)))


def _stored_params(params: dict[str, Any]) -> dict[str, str | int]:
    # Through JSON like the real column, so what reads back is what a database would give.
    loaded: dict[str, str | int] = json.loads(outbox_params_json(params))
    return loaded


class MemoryOutbox:
    """engine.notifications.ports.OutboxWriter (its reads alone on a database's committed tables)."""

    def __init__(self, tables: Tables, clock: Clock) -> None:
        self._t = tables
        self._clock = clock

    async def list_outbox(self, *, recipient: str | None = None, limit: int = 50) -> list[OutboxRow]:
        rows = (r for r in self._t.outbox.values() if recipient is None or r.message.recipient == recipient)
        return [_copy(r) for r in sorted(rows, key=lambda r: r.id, reverse=True)[: max(limit, 0)]]

    async def add_outbox(self, messages: Sequence[OutboxMessage], *, folded: bool = False, due_at: int = 0) -> int:
        now = self._clock.now_us()
        status = OutboxStatus.FOLDED if folded else OutboxStatus.PENDING
        added = 0
        for m in messages:
            if m.dedupe_key in self._t.outbox_ids:
                continue
            row_id = self._t.next_id("outbox")
            message = replace(m, params=_stored_params(m.params), created_at=m.created_at or now)
            self._t.outbox.put(row_id, OutboxRow(row_id, message, status, next_attempt_at=due_at))
            self._t.outbox_ids.put(m.dedupe_key, row_id)
            added += 1
        return added

    async def existing_outbox_keys(self, dedupe_keys: Sequence[str]) -> set[str]:
        return {k for k in dedupe_keys if k in self._t.outbox_ids}

    async def count_outbox_since(
        self, recipients: Sequence[str], since_us: int, *, excluding_templates: Sequence[str]
    ) -> dict[str, int]:
        # One transaction writes at a time, so the count holds until this one commits.
        wanted, excluded = set(recipients), set(excluding_templates)
        counts: dict[str, int] = {}
        for row in self._t.outbox.values():
            m = row.message
            if (
                m.recipient in wanted
                and m.created_at >= since_us
                and row.status is not OutboxStatus.FOLDED
                and m.template not in excluded
            ):
                counts[m.recipient] = counts.get(m.recipient, 0) + 1
        return counts


class MemoryOutboxQueue:
    """engine.notifications.ports.OutboxQueue: each call one short transaction of its own."""

    def __init__(self, data: MemoryData, committed: Tables, clock: Clock) -> None:
        self._data = data
        self._committed = committed
        self._clock = clock

    async def claim_outbox(self, *, limit: int, lease_s: float) -> list[OutboxRow]:
        now = self._clock.now_us()
        async with self._data.transaction() as t:
            due = sorted(
                (r for r in t.outbox.values() if r.status in _DUE and r.next_attempt_at <= now),
                key=lambda r: (r.next_attempt_at, r.id),
            )[: max(limit, 0)]
            leased = [replace(r, next_attempt_at=now + int(lease_s * 1_000_000), attempts=r.attempts + 1) for r in due]
            for row in leased:
                t.outbox.put(row.id, row)
        return [_copy(r) for r in sorted(leased, key=lambda r: r.id)]

    async def _mark(self, row_id: int, attempt: int | None, **changes: Any) -> bool:
        async with self._data.transaction() as t:
            row = t.outbox.get(row_id)
            if row is None or row.status not in _DUE or (attempt is not None and row.attempts != attempt):
                return False
            t.outbox.put(row_id, replace(row, **changes))
            return True

    async def mark_outbox_sent(self, row_id: int, provider_ref: str, *, attempt: int | None = None) -> bool:
        return await self._mark(row_id, attempt, status=OutboxStatus.SENT, provider_ref=provider_ref, last_error="")

    async def mark_outbox_retry(
        self, row_id: int, error: str, next_attempt_at: int, *, attempt: int | None = None
    ) -> bool:
        return await self._mark(
            row_id, attempt, status=OutboxStatus.FAILED, last_error=error, next_attempt_at=next_attempt_at
        )

    async def mark_outbox_dead(self, row_id: int, error: str, *, attempt: int | None = None) -> bool:
        return await self._mark(row_id, attempt, status=OutboxStatus.DEAD, last_error=error)

    async def record_delivery_report(self, provider_ref: str, *, delivered: bool, reason: str = "") -> bool:
        status = OutboxStatus.DELIVERED if delivered else OutboxStatus.DEAD
        async with self._data.transaction() as t:
            sent = [r for r in t.outbox.values() if provider_ref and r.provider_ref == provider_ref]
            sent = [r for r in sent if r.status is OutboxStatus.SENT]
            for row in sent:
                t.outbox.put(row.id, replace(row, status=status, last_error=reason))
        return bool(sent)

    async def scrub_outbox_params(self, row_id: int, params: dict[str, str | int]) -> bool:
        async with self._data.transaction() as t:
            row = t.outbox.get(row_id)
            if row is None or row.status not in _SETTLED:
                return False
            t.outbox.put(row_id, replace(row, message=replace(row.message, params=_stored_params(params))))
            return True

    async def outbox_counts(self) -> dict[OutboxStatus, int]:
        counts = dict.fromkeys(OutboxStatus, 0)
        for row in self._committed.outbox.values():
            counts[row.status] += 1
        return counts


class MemoryAnalytics:
    """engine.analytics.ports.UssdAnalytics: each record its own transaction."""

    def __init__(self, data: MemoryData, committed: Tables) -> None:
        self._data = data
        self._committed = committed

    async def record_ussd_end(self, event: UssdSessionEnd) -> bool:
        async with self._data.transaction() as t:
            if event.session_id in t.ussd_events:
                return False
            t.ussd_events.put(event.session_id, event)
            return True

    async def ussd_funnel(self) -> list[ScreenFunnel]:
        per_screen: dict[str, list[int]] = {}
        for event in self._committed.ussd_events.values():
            counts = per_screen.setdefault(event.last_screen, [0, 0])
            counts[0 if event.status == "Success" else 1] += 1
        funnel = [ScreenFunnel(screen, done + dropped, done, dropped) for screen, (done, dropped) in per_screen.items()]
        return sorted(funnel, key=lambda f: (-f.dropped, -f.sessions, f.screen))
