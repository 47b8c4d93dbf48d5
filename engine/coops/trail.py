"""Appending to a co-op's governance log inside a unit of work, with the co-op row locked."""

from __future__ import annotations

from dataclasses import replace

from engine.coops.audit import AuditEntry, AuditKind, next_entry
from engine.coops.model import Cooperative
from engine.coops.ports import CoopWriter
from engine.kernel.errors import CoopNotFound


class AuditTrail:
    """The co-op as locked by this transaction, and the entries it adds to the log.

    Open it first in a unit of work (every writer of a co-op takes the co-op's
    lock before anything else, so two writers never deadlock), add entries,
    then :meth:`save` the co-op with its new head.
    """

    def __init__(self, coops: CoopWriter, coop: Cooperative) -> None:
        self._coops = coops
        self.coop = coop
        self.entries: list[AuditEntry] = []

    @classmethod
    async def open(cls, coops: CoopWriter, coop_id: str) -> AuditTrail:
        coop = await coops.coop_for_update(coop_id)
        if coop is None:
            raise CoopNotFound("no such co-op", coop_id=coop_id)
        return cls(coops, coop)

    async def add(
        self,
        kind: AuditKind,
        *,
        at_us: int,
        actor_id: int = 0,
        proposal_id: str = "",
        body: dict[str, str | int] | None = None,
    ) -> AuditEntry:
        entry = next_entry(
            self.coop.id,
            (self.coop.audit_seq, self.coop.audit_hash),
            kind,
            at_us=at_us,
            actor_id=actor_id,
            proposal_id=proposal_id,
            body=body,
        )
        await self._coops.append_audit(entry)
        self.coop = replace(self.coop, audit_seq=entry.seq, audit_hash=entry.hash)
        self.entries.append(entry)
        return entry

    async def save(self) -> Cooperative:
        await self._coops.update_coop(self.coop)
        return self.coop
