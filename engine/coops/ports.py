"""What the cooperatives context needs from a database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from engine.coops.audit import AuditEntry
from engine.coops.model import Asset, CatalogItem, Cooperative, Member, Proposal, Vote
from engine.energy.ports import ClusterReader, ClusterWriter
from engine.identity.ports import UserReader, UserWriter
from engine.kernel.unit_of_work import RecordsEvents, Units
from engine.ledger.ports import LedgerReader, LedgerWriter
from engine.notifications.ports import OutboxWriter
from engine.scheduler.ports import JobWriter


class CoopReader(Protocol):
    async def coop_by_id(self, coop_id: str) -> Cooperative | None: ...

    async def list_coops(self, *, region: str | None = None, limit: int = 50, offset: int = 0) -> list[Cooperative]:
        """Co-ops by name (within ``region`` when given)."""
        ...

    async def memberships(self, user_id: int) -> list[tuple[Cooperative, Member]]:
        """The co-ops ``user_id`` belongs to now (applied, admitted, full or leaving), by name."""
        ...

    async def member(self, coop_id: str, user_id: int) -> Member | None: ...

    async def members(self, coop_id: str, *, limit: int = 50, offset: int = 0) -> list[Member]:
        """Current members (admitted, full, leaving), most shares first, then by who joined first."""
        ...

    async def count_members(self, coop_id: str) -> dict[str, int]:
        """How many members are in each state."""
        ...

    async def members_due_refund(self, coop_id: str, *, now_us: int, limit: int) -> list[Member]:
        """Leaving or removed members whose notice has ended and who still hold money, oldest notice first."""
        ...

    async def proposal_by_id(self, proposal_id: str) -> Proposal | None: ...

    async def proposals(
        self, coop_id: str, *, open_only: bool = False, limit: int = 20, offset: int = 0
    ) -> list[Proposal]:
        """Newest first."""
        ...

    async def count_open_proposals(self, coop_id: str, proposer_id: int) -> int: ...

    async def vote(self, proposal_id: str, user_id: int) -> Vote | None: ...

    async def votes(self, proposal_id: str) -> list[Vote]: ...

    async def electorate_weight(self, proposal_id: str, user_id: int) -> int | None:
        """The weight of ``user_id``'s vote on the proposal, or None when they were not in its electorate."""
        ...

    async def electorate(self, proposal_id: str, *, without_vote: bool = False) -> list[int]:
        """The user ids in the proposal's electorate (only those who have not voted, if asked)."""
        ...

    async def audit_entries(self, coop_id: str, *, after_seq: int = 0, limit: int = 1000) -> list[AuditEntry]:
        """The co-op's governance log in order."""
        ...

    async def catalog(self, supplier_id: str) -> list[CatalogItem]: ...

    async def catalog_item(self, supplier_id: str, item_id: str) -> CatalogItem | None: ...

    async def assets(self, coop_id: str) -> list[Asset]: ...


class CoopWriter(CoopReader, Protocol):
    async def insert_coop(self, coop: Cooperative) -> bool:
        """False if a co-op with that id exists already."""
        ...

    async def coop_for_update(self, coop_id: str) -> Cooperative | None:
        """The co-op, locked until the transaction ends (its audit head is appended to one writer at a time)."""
        ...

    async def update_coop(self, coop: Cooperative) -> None:
        """Store the co-op's state, full-member count, bylaws and audit head."""
        ...

    async def insert_member(self, member: Member) -> bool:
        """False if the user is in that co-op's register already (in any state)."""
        ...

    async def member_for_update(self, coop_id: str, user_id: int) -> Member | None: ...

    async def update_member(self, member: Member) -> bool:
        """Store ``member`` as ``member.version + 1`` if the row is still at ``member.version``."""
        ...

    async def insert_proposal(self, proposal: Proposal, electorate: Sequence[tuple[int, int]]) -> None:
        """Store the proposal and its electorate snapshot: (user id, weight) pairs."""
        ...

    async def proposal_for_update(self, proposal_id: str) -> Proposal | None: ...

    async def update_proposal(self, proposal: Proposal) -> bool:
        """Store ``proposal`` as ``proposal.version + 1`` if the row is still at ``proposal.version``."""
        ...

    async def save_vote(self, vote: Vote) -> None:
        """Insert the member's vote on the proposal, or replace the one they cast before."""
        ...

    async def append_audit(self, entry: AuditEntry) -> None:
        """Append one entry (append-only; the caller holds the co-op's lock)."""
        ...

    async def upsert_catalog_item(self, item: CatalogItem) -> None: ...

    async def insert_asset(self, asset: Asset) -> None: ...


class CoopUnit(RecordsEvents, Protocol):
    """What the cooperative services touch inside one transaction."""

    @property
    def coops(self) -> CoopWriter: ...

    @property
    def clusters(self) -> ClusterWriter: ...

    @property
    def users(self) -> UserWriter: ...

    @property
    def ledger(self) -> LedgerWriter: ...

    @property
    def jobs(self) -> JobWriter: ...

    @property
    def outbox(self) -> OutboxWriter: ...


class CoopReads(Protocol):
    @property
    def coops(self) -> CoopReader: ...

    @property
    def clusters(self) -> ClusterReader: ...

    @property
    def users(self) -> UserReader: ...

    @property
    def ledger(self) -> LedgerReader: ...


CoopUnits = Units[CoopUnit, CoopReads]
