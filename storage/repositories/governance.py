"""Proposals, their electorates, votes and the governance log, written once for SQLite and PostgreSQL.

The half of engine.coops.ports about deciding things; :mod:`storage.repositories.coops`
composes it with co-ops and members into one repository. A proposal changes
by compare-and-set on its ``version``, as a member does; its electorate is
written once, with it, in one statement whatever its size.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.coops.audit import AuditEntry
from engine.coops.model import Proposal, Vote
from storage.coop_tables import COOP_AUDIT, PROPOSAL_CHANGES, PROPOSAL_ELECTORATE, PROPOSALS, VOTES
from storage.dialect import Executor, sql

_OPEN = "state IN ('pending', 'active', 'succeeded', 'queued')"  # as ProposalState.open, and proposals_open
_NEWEST_FIRST = "ORDER BY created_at DESC, id DESC"

_BY_ID = sql(f"SELECT {PROPOSALS.select} FROM proposals WHERE id = $1")
_FOR_UPDATE = sql(f"SELECT {PROPOSALS.select} FROM proposals WHERE id = $1 FOR UPDATE")
_OF_COOP = sql(f"SELECT {PROPOSALS.select} FROM proposals WHERE coop_id = $1 {_NEWEST_FIRST} LIMIT $2 OFFSET $3")
_OPEN_OF_COOP = sql(
    f"SELECT {PROPOSALS.select} FROM proposals WHERE coop_id = $1 AND {_OPEN} {_NEWEST_FIRST} LIMIT $2 OFFSET $3"
)
# The platform's own proposals have a NULL proposer (the column's foreign key): 0 counts those.
_COUNT_OPEN = sql(
    f"SELECT COUNT(*) FROM proposals WHERE coop_id = $1 AND {_OPEN} "
    "AND (proposer_id = $2 OR ($2 = 0 AND proposer_id IS NULL))"
)
_INSERT = sql(PROPOSALS.insert)
_changes = PROPOSALS.getter(*PROPOSAL_CHANGES)
# $1 id, $2 the version read, then the changes (the payload as JSON), then the new version.
_UPDATE = sql(
    "UPDATE proposals SET "
    + ", ".join(f"{n} = ${i}::jsonb" if n == "payload" else f"{n} = ${i}" for i, n in enumerate(PROPOSAL_CHANGES, 3))
    + f", version = ${len(PROPOSAL_CHANGES) + 3} WHERE id = $1 AND version = $2"
)

_VOTE = sql(f"SELECT {VOTES.select} FROM votes WHERE proposal_id = $1 AND user_id = $2")
_VOTES = sql(f"SELECT {VOTES.select} FROM votes WHERE proposal_id = $1 ORDER BY at, user_id")
# A changed vote replaces the one before (the governance log keeps both).
_SAVE_VOTE = sql(
    f"{VOTES.insert} ON CONFLICT (proposal_id, user_id) DO UPDATE SET choice = excluded.choice, "
    "weight = excluded.weight, at = excluded.at, changes = excluded.changes"
)

_WEIGHT = sql("SELECT weight FROM proposal_electorate WHERE proposal_id = $1 AND user_id = $2")
_ELECTORATE = sql("SELECT user_id FROM proposal_electorate WHERE proposal_id = $1 ORDER BY user_id")
# Down the electorate's primary key, probing the votes' one for each member.
_NOT_VOTED = sql(
    "SELECT e.user_id FROM proposal_electorate AS e WHERE e.proposal_id = $1 AND NOT EXISTS "
    "(SELECT 1 FROM votes AS v WHERE v.proposal_id = e.proposal_id AND v.user_id = e.user_id) ORDER BY e.user_id"
)

_AUDIT = sql(f"SELECT {COOP_AUDIT.select} FROM coop_audit WHERE coop_id = $1 AND seq > $2 ORDER BY seq LIMIT $3")
_APPEND = sql(COOP_AUDIT.insert)


class GovernanceReads:
    """engine.coops.ports.CoopReader's proposals, votes and log over one executor."""

    def __init__(self, db: Executor) -> None:
        self._db = db

    async def proposal_by_id(self, proposal_id: str) -> Proposal | None:
        row = await self._db.fetch_one(_BY_ID, proposal_id)
        return PROPOSALS.record(row) if row is not None else None

    async def proposals(
        self, coop_id: str, *, open_only: bool = False, limit: int = 20, offset: int = 0
    ) -> list[Proposal]:
        statement = _OPEN_OF_COOP if open_only else _OF_COOP
        rows = await self._db.fetch(statement, coop_id, max(limit, 0), max(offset, 0))
        return [PROPOSALS.record(r) for r in rows]

    async def count_open_proposals(self, coop_id: str, proposer_id: int) -> int:
        row = await self._db.fetch_one(_COUNT_OPEN, coop_id, proposer_id)
        assert row is not None
        return int(row[0])

    async def vote(self, proposal_id: str, user_id: int) -> Vote | None:
        row = await self._db.fetch_one(_VOTE, proposal_id, user_id)
        return VOTES.record(row) if row is not None else None

    async def votes(self, proposal_id: str) -> list[Vote]:
        return [VOTES.record(r) for r in await self._db.fetch(_VOTES, proposal_id)]

    async def electorate_weight(self, proposal_id: str, user_id: int) -> int | None:
        row = await self._db.fetch_one(_WEIGHT, proposal_id, user_id)
        return int(row[0]) if row is not None else None

    async def electorate(self, proposal_id: str, *, without_vote: bool = False) -> list[int]:
        rows = await self._db.fetch(_NOT_VOTED if without_vote else _ELECTORATE, proposal_id)
        return [int(r[0]) for r in rows]

    async def audit_entries(self, coop_id: str, *, after_seq: int = 0, limit: int = 1000) -> list[AuditEntry]:
        rows = await self._db.fetch(_AUDIT, coop_id, after_seq, max(limit, 0))
        return [COOP_AUDIT.record(r) for r in rows]


class GovernanceWrites(GovernanceReads):
    """engine.coops.ports.CoopWriter's proposals, votes and log inside one open transaction."""

    async def insert_proposal(self, proposal: Proposal, electorate: Sequence[tuple[int, int]]) -> None:
        await self._db.execute(_INSERT, *PROPOSALS.values(proposal))
        # One statement (unnest on PostgreSQL; one prepared insert run per row on SQLite).
        rows = [(proposal.id, user_id, weight) for user_id, weight in electorate]
        await self._db.execute_batch(PROPOSAL_ELECTORATE.insert_batch, rows)

    async def proposal_for_update(self, proposal_id: str) -> Proposal | None:
        row = await self._db.fetch_one(_FOR_UPDATE, proposal_id)
        return PROPOSALS.record(row) if row is not None else None

    async def update_proposal(self, proposal: Proposal) -> bool:
        p = proposal
        return await self._db.execute(_UPDATE, p.id, p.version, *_changes(p), p.version + 1) == 1

    async def save_vote(self, vote: Vote) -> None:
        await self._db.execute(_SAVE_VOTE, *VOTES.values(vote))

    async def append_audit(self, entry: AuditEntry) -> None:
        await self._db.execute(_APPEND, *COOP_AUDIT.values(entry))
