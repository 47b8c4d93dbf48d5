"""The in-memory co-ops, members, proposals, votes and governance log (engine.coops.ports).

The answers of storage.repositories.coops and .governance: the same orders,
the same compare-and-set on ``version``, a member's phone read from the
users table as the SQL join does, and JSON columns (bylaws, payloads,
audit bodies) stored through JSON so what reads back is what a database
would give. One transaction writes at a time, so reading is locking (the
``*_for_update`` reads). The schema's CHECK, UNIQUE and foreign-key
constraints are checked where a bug could break them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from engine.coops.audit import AuditEntry, AuditKind
from engine.coops.bylaws import Bylaws
from engine.coops.model import (
    Asset,
    CatalogItem,
    Choice,
    Cooperative,
    CoopState,
    Member,
    MemberState,
    Proposal,
    ProposalKind,
    ProposalState,
    Region,
    Role,
    Vote,
)
from engine.energy.model import ClusterKind
from storage.coop_tables import stored_json
from storage.memory.ledger import ConstraintViolation
from storage.memory.tables import Tables

_MEMBERSHIP = (MemberState.APPLIED, MemberState.ADMITTED, MemberState.FULL, MemberState.LEAVING)
_CURRENT = (MemberState.ADMITTED, MemberState.FULL, MemberState.LEAVING)
_REFUNDABLE = (MemberState.LEAVING, MemberState.REMOVED)


def _json(data: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(stored_json(data))
    return loaded


def _page(rows: list[Any], limit: int, offset: int) -> list[Any]:
    start = max(offset, 0)
    return rows[start : start + max(limit, 0)]


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise ConstraintViolation(what)


def _stored_coop(coop: Cooperative) -> Cooperative:
    try:
        stored = replace(
            coop,
            region=Region(coop.region),
            kind=str(ClusterKind(coop.kind)),
            state=CoopState(coop.state),
            bylaws=Bylaws.from_dict(_json(coop.bylaws.to_dict())),
        )
    except ValueError as exc:
        raise ConstraintViolation(f"co-op {coop.id!r}: {exc}") from exc
    _check(min(stored.full_members, stored.audit_seq) >= 0, f"co-op {coop.id!r}: a count below zero")
    return stored


def _stored_member(member: Member) -> Member:
    try:
        stored = replace(member, state=MemberState(member.state), role=Role(member.role))
    except ValueError as exc:
        raise ConstraintViolation(f"member {member.user_id} of {member.coop_id!r}: {exc}") from exc
    amounts = (stored.contributed_ngwee, stored.refunded_ngwee, stored.shares, stored.credit_ngwee)
    _check(
        min(*amounts, stored.joined_at_us, stored.exit_at_us, stored.version) >= 0
        and stored.refunded_ngwee <= stored.contributed_ngwee,
        f"member {member.user_id} of {member.coop_id!r}: an amount out of range",
    )
    return stored


def _stored_proposal(proposal: Proposal) -> Proposal:
    p = proposal
    try:
        stored = replace(
            p,
            kind=ProposalKind(p.kind),
            state=ProposalState(p.state),
            payload=_json(p.payload),
            supermajority=bool(p.supermajority),
            hide_results=bool(p.hide_results),
            reminded=bool(p.reminded),
        )
    except ValueError as exc:
        raise ConstraintViolation(f"proposal {p.id!r}: {exc}") from exc
    t = p.tally
    _check(
        min(p.electorate_size, p.electorate_weight, t.yes, t.no, t.abstain, t.voters, p.version) >= 0
        and 0 <= p.quorum_pct <= 100
        and 0 <= p.pass_pct <= 100
        and p.proposer_id >= 0,
        f"proposal {p.id!r}: a number out of range",
    )
    return stored


def _copy_proposal(proposal: Proposal) -> Proposal:
    """As a read hands it out: the payload is the caller's to change, never the table's."""
    return replace(proposal, payload=dict(proposal.payload))


class MemoryCoops:
    """engine.coops.ports.CoopWriter (its reads alone on a database's committed tables)."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    # --- co-ops and members -----------------------------------------------------

    async def coop_by_id(self, coop_id: str) -> Cooperative | None:
        return self._t.coops.get(coop_id)

    async def list_coops(self, *, region: str | None = None, limit: int = 50, offset: int = 0) -> list[Cooperative]:
        coops = (c for c in self._t.coops.values() if region is None or c.region == region)
        return _page(sorted(coops, key=lambda c: (c.name, c.id)), limit, offset)

    async def memberships(self, user_id: int) -> list[tuple[Cooperative, Member]]:
        found: list[tuple[Cooperative, Member]] = []
        for member in self._t.coop_members.values():
            coop = self._t.coops.get(member.coop_id)
            if member.user_id == user_id and member.state in _MEMBERSHIP and coop is not None:
                found.append((coop, self._with_phone(member)))
        return sorted(found, key=lambda cm: (cm[0].name, cm[0].id))

    async def member(self, coop_id: str, user_id: int) -> Member | None:
        member = self._t.coop_members.get((coop_id, user_id))
        return self._with_phone(member) if member is not None else None

    async def members(self, coop_id: str, *, limit: int = 50, offset: int = 0) -> list[Member]:
        current = (m for m in self._t.coop_members.values() if m.coop_id == coop_id and m.state in _CURRENT)
        ordered = sorted(current, key=lambda m: (-m.shares, m.joined_at_us, m.user_id))
        return [self._with_phone(m) for m in _page(ordered, limit, offset)]

    async def count_members(self, coop_id: str) -> dict[str, int]:
        counts = dict.fromkeys((str(s) for s in MemberState), 0)
        for m in self._t.coop_members.values():
            if m.coop_id == coop_id:
                counts[str(m.state)] += 1
        return counts

    async def members_due_refund(self, coop_id: str, *, now_us: int, limit: int) -> list[Member]:
        due = (
            m
            for m in self._t.coop_members.values()
            if m.coop_id == coop_id
            and m.state in _REFUNDABLE
            and m.exit_at_us <= now_us
            and m.contributed_ngwee > m.refunded_ngwee
        )
        ordered = sorted(due, key=lambda m: (m.exit_at_us, m.user_id))[: max(limit, 0)]
        return [self._with_phone(m) for m in ordered]

    async def insert_coop(self, coop: Cooperative) -> bool:
        stored = _stored_coop(coop)
        if stored.id in self._t.coops:
            return False
        _check(stored.id in self._t.clusters, f"co-op {coop.id!r}: no cluster with its id")
        _check(stored.founder_id in self._t.users, f"co-op {coop.id!r}: no user {coop.founder_id}")
        self._t.coops.put(stored.id, stored)
        return True

    async def coop_for_update(self, coop_id: str) -> Cooperative | None:
        # One transaction writes at a time: reading is locking.
        return self._t.coops.get(coop_id)

    async def update_coop(self, coop: Cooperative) -> None:
        current = self._t.coops.get(coop.id)
        if current is None:
            return
        changed = replace(
            current,
            state=coop.state,
            full_members=coop.full_members,
            bylaws=coop.bylaws,
            audit_seq=coop.audit_seq,
            audit_hash=coop.audit_hash,
        )
        self._t.coops.put(coop.id, _stored_coop(changed))

    async def insert_member(self, member: Member) -> bool:
        stored = _stored_member(member)
        key = (stored.coop_id, stored.user_id)
        if key in self._t.coop_members:
            return False
        _check(stored.coop_id in self._t.coops, f"member of {member.coop_id!r}: no such co-op")
        _check(stored.user_id in self._t.users, f"member of {member.coop_id!r}: no user {member.user_id}")
        self._t.coop_members.put(key, stored)
        return True

    async def member_for_update(self, coop_id: str, user_id: int) -> Member | None:
        return await self.member(coop_id, user_id)

    async def update_member(self, member: Member) -> bool:
        key = (member.coop_id, member.user_id)
        current = self._t.coop_members.get(key)
        if current is None or current.version != member.version:
            return False
        self._t.coop_members.put(key, _stored_member(replace(member, version=member.version + 1)))
        return True

    def _with_phone(self, member: Member) -> Member:
        user = self._t.users.get(member.user_id)
        return replace(member, phone=user.phone if user is not None else "")

    # --- proposals and votes ----------------------------------------------------

    async def proposal_by_id(self, proposal_id: str) -> Proposal | None:
        proposal = self._t.proposals.get(proposal_id)
        return _copy_proposal(proposal) if proposal is not None else None

    async def proposals(
        self, coop_id: str, *, open_only: bool = False, limit: int = 20, offset: int = 0
    ) -> list[Proposal]:
        mine = (p for p in self._t.proposals.values() if p.coop_id == coop_id and (p.state.open or not open_only))
        ordered = sorted(mine, key=lambda p: (p.created_at_us, p.id), reverse=True)
        return [_copy_proposal(p) for p in _page(ordered, limit, offset)]

    async def count_open_proposals(self, coop_id: str, proposer_id: int) -> int:
        return sum(
            1
            for p in self._t.proposals.values()
            if p.coop_id == coop_id and p.proposer_id == proposer_id and p.state.open
        )

    async def vote(self, proposal_id: str, user_id: int) -> Vote | None:
        return self._t.votes.get((proposal_id, user_id))

    async def votes(self, proposal_id: str) -> list[Vote]:
        return sorted(
            (v for v in self._t.votes.values() if v.proposal_id == proposal_id), key=lambda v: (v.at_us, v.user_id)
        )

    async def electorate_weight(self, proposal_id: str, user_id: int) -> int | None:
        return (self._t.proposal_electorate.get(proposal_id) or {}).get(user_id)

    async def electorate(self, proposal_id: str, *, without_vote: bool = False) -> list[int]:
        voters = self._t.proposal_electorate.get(proposal_id) or {}
        if without_vote:
            voted = {v.user_id for v in self._t.votes.values() if v.proposal_id == proposal_id}
            return sorted(u for u in voters if u not in voted)
        return sorted(voters)

    async def insert_proposal(self, proposal: Proposal, electorate: Sequence[tuple[int, int]]) -> None:
        stored = _stored_proposal(proposal)
        _check(stored.id not in self._t.proposals, f"proposal {proposal.id!r} exists")
        _check(stored.coop_id in self._t.coops, f"proposal {proposal.id!r}: no co-op {proposal.coop_id!r}")
        proposer = stored.proposer_id
        _check(proposer == 0 or proposer in self._t.users, f"proposal {proposal.id!r}: no user {proposer}")
        weights: dict[int, int] = {}
        for user_id, weight in electorate:
            _check(user_id not in weights, f"proposal {proposal.id!r}: {user_id} twice in the electorate")
            _check(weight >= 0 and user_id in self._t.users, f"proposal {proposal.id!r}: voter {user_id} refused")
            weights[user_id] = weight
        self._t.proposals.put(stored.id, stored)
        self._t.proposal_electorate.put(stored.id, weights)

    async def proposal_for_update(self, proposal_id: str) -> Proposal | None:
        return await self.proposal_by_id(proposal_id)

    async def update_proposal(self, proposal: Proposal) -> bool:
        current = self._t.proposals.get(proposal.id)
        if current is None or current.version != proposal.version:
            return False
        p = proposal
        changed = replace(
            current,
            payload=p.payload,
            state=p.state,
            vote_start_us=p.vote_start_us,
            vote_end_us=p.vote_end_us,
            hide_results=p.hide_results,
            tally=p.tally,
            eta_us=p.eta_us,
            executed_at_us=p.executed_at_us,
            failure=p.failure,
            reminded=p.reminded,
            version=p.version + 1,
        )
        self._t.proposals.put(p.id, _stored_proposal(changed))
        return True

    async def save_vote(self, vote: Vote) -> None:
        try:
            stored = replace(vote, choice=Choice(vote.choice))
        except ValueError as exc:
            raise ConstraintViolation(f"vote on {vote.proposal_id!r}: {exc}") from exc
        _check(min(stored.weight, stored.changes) >= 0, f"vote on {vote.proposal_id!r}: weight or changes below 0")
        # The schema's foreign keys; that the voter is in the electorate is the service's rule.
        _check(vote.proposal_id in self._t.proposals, f"vote on {vote.proposal_id!r}: no such proposal")
        _check(vote.user_id in self._t.users, f"vote on {vote.proposal_id!r}: no user {vote.user_id}")
        self._t.votes.put((vote.proposal_id, vote.user_id), stored)

    # --- the governance log, the catalog and assets -----------------------------

    async def audit_entries(self, coop_id: str, *, after_seq: int = 0, limit: int = 1000) -> list[AuditEntry]:
        entries = (e for e in self._t.coop_audit.values() if e.coop_id == coop_id and e.seq > after_seq)
        return [replace(e, body=dict(e.body)) for e in sorted(entries, key=lambda e: e.seq)[: max(limit, 0)]]

    async def append_audit(self, entry: AuditEntry) -> None:
        key = (entry.coop_id, entry.seq)
        _check(key not in self._t.coop_audit, f"audit entry {entry.seq} of {entry.coop_id!r} exists")
        _check(entry.coop_id in self._t.coops, f"audit entry of {entry.coop_id!r}: no such co-op")
        _check(entry.seq >= 1, f"audit entry of {entry.coop_id!r}: sequence {entry.seq}")
        self._t.coop_audit.put(key, replace(entry, kind=AuditKind(entry.kind), body=_json(entry.body)))

    async def catalog(self, supplier_id: str) -> list[CatalogItem]:
        items = (i for i in self._t.coop_catalog.values() if i.supplier_id == supplier_id)
        return sorted(items, key=lambda i: (i.name, i.item_id))

    async def catalog_item(self, supplier_id: str, item_id: str) -> CatalogItem | None:
        return self._t.coop_catalog.get((supplier_id, item_id))

    async def upsert_catalog_item(self, item: CatalogItem) -> None:
        _check(item.supplier_id in self._t.coops, f"catalog item {item.item_id!r}: no co-op {item.supplier_id!r}")
        _check(item.price_ngwee > 0 and item.capacity_wh >= 0, f"catalog item {item.item_id!r}: price or capacity")
        self._t.coop_catalog.put((item.supplier_id, item.item_id), item)

    async def assets(self, coop_id: str) -> list[Asset]:
        owned: Iterable[Asset] = (a for a in self._t.coop_assets.values() if a.coop_id == coop_id)
        return sorted(owned, key=lambda a: (a.acquired_at_us, a.proposal_id, a.item_id))

    async def insert_asset(self, asset: Asset) -> None:
        key = (asset.proposal_id, asset.item_id)
        _check(key not in self._t.coop_assets, f"asset {asset.item_id!r} of {asset.proposal_id!r} exists")
        _check(asset.coop_id in self._t.coops, f"asset {asset.item_id!r}: no co-op {asset.coop_id!r}")
        _check(asset.quantity > 0 and asset.cost_ngwee >= 0, f"asset {asset.item_id!r}: quantity or cost")
        self._t.coop_assets.put(key, asset)
