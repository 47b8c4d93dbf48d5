"""The governance log: every proposal, vote, change of vote, transition and execution, hash-chained per co-op.

Each entry's hash covers its own fields and the previous entry's hash, so an
edited, removed or reordered entry breaks every hash after it; the co-op's
row keeps the head (sequence and hash) the next entry chains from.
:func:`verify_chain` recomputes a co-op's chain, and :func:`recount` rebuilds
each proposal's tally from the votes in the log alone.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from engine.coops.model import Choice, Tally

GENESIS = "0" * 64


class AuditKind(enum.StrEnum):
    FORMED = "formed"
    JOINED = "joined"
    APPLIED = "applied"
    CONTRIBUTED = "contributed"
    FULL_MEMBER = "full_member"
    NOTICE_GIVEN = "notice_given"
    REFUNDED = "refunded"
    ACTIVATED = "activated"
    PROPOSED = "proposed"
    VOTED = "voted"
    VOTE_CHANGED = "vote_changed"
    TRANSITION = "transition"
    EXECUTED = "executed"
    EXECUTION_FAILED = "execution_failed"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    coop_id: str
    seq: int
    kind: AuditKind
    at_us: int
    actor_id: int  # 0: the platform (the scheduler, an operator's tool)
    proposal_id: str
    body: dict[str, str | int]
    prev_hash: str
    hash: str


def entry_hash(
    coop_id: str,
    seq: int,
    kind: AuditKind,
    at_us: int,
    actor_id: int,
    proposal_id: str,
    body: dict[str, str | int],
    prev_hash: str,
) -> str:
    canonical = json.dumps(
        [coop_id, seq, str(kind), at_us, actor_id, proposal_id, body, prev_hash],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def next_entry(
    coop_id: str,
    head: tuple[int, str],
    kind: AuditKind,
    *,
    at_us: int,
    actor_id: int = 0,
    proposal_id: str = "",
    body: dict[str, str | int] | None = None,
) -> AuditEntry:
    """The entry that follows ``head`` (the co-op's last sequence number and hash)."""
    seq, prev = head[0] + 1, head[1] or GENESIS
    data = dict(body or {})
    return AuditEntry(
        coop_id, seq, kind, at_us, actor_id, proposal_id, data, prev,
        entry_hash(coop_id, seq, kind, at_us, actor_id, proposal_id, data, prev),
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ChainBreak:
    coop_id: str
    seq: int
    why: str


def verify_chain(coop_id: str, entries: Iterable[AuditEntry], head: tuple[int, str]) -> ChainBreak | None:
    """The first place the chain of ``coop_id`` is broken, or None when every hash holds up to ``head``."""
    expected_seq, prev = 1, GENESIS
    for entry in entries:
        if entry.seq != expected_seq:
            return ChainBreak(coop_id, expected_seq, "an entry is missing or out of order")
        if entry.prev_hash != prev:
            return ChainBreak(coop_id, entry.seq, "it does not chain from the entry before")
        recomputed = entry_hash(
            entry.coop_id, entry.seq, entry.kind, entry.at_us, entry.actor_id, entry.proposal_id, entry.body, prev
        )
        if recomputed != entry.hash or entry.coop_id != coop_id:
            return ChainBreak(coop_id, entry.seq, "its contents were changed")
        expected_seq, prev = entry.seq + 1, entry.hash
    if (expected_seq - 1, prev if expected_seq > 1 else "") != (head[0], head[1] if head[0] else ""):
        return ChainBreak(coop_id, expected_seq, "the co-op's head does not match its last entry")
    return None


def recount(entries: Iterable[AuditEntry]) -> dict[str, Tally]:
    """Each proposal's tally from its vote entries alone: the last vote of each member counts."""
    last: dict[str, dict[int, tuple[Choice, int]]] = {}
    for entry in entries:
        if entry.kind in (AuditKind.VOTED, AuditKind.VOTE_CHANGED):
            last.setdefault(entry.proposal_id, {})[entry.actor_id] = (
                Choice(int(entry.body["choice"])),
                int(entry.body["weight"]),
            )
    tallies: dict[str, Tally] = {}
    for proposal_id, votes in last.items():
        tally = Tally()
        for choice, weight in votes.values():
            tally = tally.add(choice, weight)
        tallies[proposal_id] = Tally(tally.yes, tally.no, tally.abstain, len(votes))
    return tallies
