"""The co-ops' and scheduled jobs' table specs (see storage.tables; its TABLES lists these too).

JSON columns (bylaws, payloads, audit bodies) are written by :func:`stored_json`
and read back with ``json.loads``; the in-memory backend stores through the
same function, so every backend reads back the same values.
"""

from __future__ import annotations

import json
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
    Tally,
    Vote,
)
from engine.scheduler.model import Job, JobState
from storage.columns import INTEGER, JSON, TEXT, Column, Table


def stored_json(data: dict[str, Any]) -> str:
    """How a co-op's bylaws, a proposal's payload, an audit body or a job's payload is stored (compact, keys sorted)."""
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def _bylaws(stored: str) -> Bylaws:
    return Bylaws.from_dict(json.loads(stored))


def _stored_bylaws(bylaws: Bylaws) -> str:
    return stored_json(bylaws.to_dict())


COOPS = Table(
    "coops",
    [
        Column("id", TEXT),
        Column("name", TEXT),
        Column("kind", TEXT, encode=str),
        Column("region", TEXT, decode=Region, encode=str),
        Column("bylaws", JSON, decode=_bylaws, encode=_stored_bylaws),
        Column("founder_id", INTEGER),
        Column("state", TEXT, decode=CoopState, encode=str),
        Column("created_at", INTEGER, attr="created_at_us"),
        Column("full_members", INTEGER),
        Column("audit_seq", INTEGER),
        Column("audit_hash", TEXT),
    ],
    Cooperative,
)

# What update_coop writes; the rest is fixed when the co-op is formed.
COOP_CHANGES = ("state", "full_members", "bylaws", "audit_seq", "audit_hash")


def _member(
    coop_id: str,
    user_id: int,
    state: MemberState,
    role: Role,
    contributed_ngwee: int,
    refunded_ngwee: int,
    shares: int,
    credit_ngwee: int,
    joined_at_us: int,
    exit_at_us: int,
    version: int,
) -> Member:
    # The phone is the user's (read beside the row, see storage.repositories.coops).
    return Member(
        coop_id, user_id, "", state, role, contributed_ngwee, refunded_ngwee, shares, credit_ngwee,
        joined_at_us, exit_at_us, version,
    )  # fmt: skip


COOP_MEMBERS = Table(
    "coop_members",
    [
        Column("coop_id", TEXT),
        Column("user_id", INTEGER),
        Column("state", TEXT, decode=MemberState, encode=str),
        Column("role", TEXT, decode=Role, encode=str),
        Column("contributed_ngwee", INTEGER),
        Column("refunded_ngwee", INTEGER),
        Column("shares", INTEGER),
        Column("credit_ngwee", INTEGER),
        Column("joined_at", INTEGER, attr="joined_at_us"),
        Column("exit_at", INTEGER, attr="exit_at_us"),
        Column("version", INTEGER),
    ],
    _member,
)

# What update_member writes (and the version it bumps); the key never changes.
MEMBER_CHANGES = (
    "state",
    "role",
    "contributed_ngwee",
    "refunded_ngwee",
    "shares",
    "credit_ngwee",
    "joined_at",
    "exit_at",
)


def _proposer(stored: int | None) -> int:
    return stored or 0  # NULL: the platform


def _stored_proposer(proposer_id: int) -> int | None:
    return proposer_id or None


def _proposal(
    proposal_id: str,
    coop_id: str,
    kind: ProposalKind,
    proposer_id: int,
    payload: dict[str, str | int],
    state: ProposalState,
    created_at_us: int,
    vote_start_us: int,
    vote_end_us: int,
    electorate_size: int,
    electorate_weight: int,
    quorum_pct: int,
    pass_pct: int,
    supermajority: bool,
    hide_results: bool,
    yes: int,
    no: int,
    abstain: int,
    voters: int,
    eta_us: int,
    executed_at_us: int,
    failure: str,
    reminded: bool,
    version: int,
) -> Proposal:
    return Proposal(
        proposal_id, coop_id, kind, proposer_id, payload, state, created_at_us, vote_start_us, vote_end_us,
        electorate_size, electorate_weight, quorum_pct, pass_pct, supermajority, hide_results,
        Tally(yes, no, abstain, voters), eta_us, executed_at_us, failure, reminded, version,
    )  # fmt: skip


PROPOSALS = Table(
    "proposals",
    [
        Column("id", TEXT),
        Column("coop_id", TEXT),
        Column("kind", TEXT, decode=ProposalKind, encode=str),
        Column("proposer_id", INTEGER, decode=_proposer, encode=_stored_proposer),
        Column("payload", JSON, decode=json.loads, encode=stored_json),
        Column("state", TEXT, decode=ProposalState, encode=str),
        Column("created_at", INTEGER, attr="created_at_us"),
        Column("vote_start", INTEGER, attr="vote_start_us"),
        Column("vote_end", INTEGER, attr="vote_end_us"),
        Column("electorate_size", INTEGER),
        Column("electorate_weight", INTEGER),
        Column("quorum_pct", INTEGER),
        Column("pass_pct", INTEGER),
        Column("supermajority", INTEGER, decode=bool, encode=int),
        Column("hide_results", INTEGER, decode=bool, encode=int),
        Column("tally_yes", INTEGER, attr="tally.yes"),
        Column("tally_no", INTEGER, attr="tally.no"),
        Column("tally_abstain", INTEGER, attr="tally.abstain"),
        Column("tally_voters", INTEGER, attr="tally.voters"),
        Column("eta", INTEGER, attr="eta_us"),
        Column("executed_at", INTEGER, attr="executed_at_us"),
        Column("failure", TEXT),
        Column("reminded", INTEGER, decode=bool, encode=int),
        Column("version", INTEGER),
    ],
    _proposal,
)

# What update_proposal writes (and the version it bumps); who proposed what, when,
# and what it is decided under are fixed when it is made.
PROPOSAL_CHANGES = (
    "payload",
    "state",
    "vote_start",
    "vote_end",
    "hide_results",
    "tally_yes",
    "tally_no",
    "tally_abstain",
    "tally_voters",
    "eta",
    "executed_at",
    "failure",
    "reminded",
)

PROPOSAL_ELECTORATE: Table[tuple[Any, ...]] = Table(
    "proposal_electorate", [Column("proposal_id", TEXT), Column("user_id", INTEGER), Column("weight", INTEGER)]
)

VOTES = Table(
    "votes",
    [
        Column("proposal_id", TEXT),
        Column("user_id", INTEGER),
        Column("choice", INTEGER, decode=Choice, encode=int),
        Column("weight", INTEGER),
        Column("at", INTEGER, attr="at_us"),
        Column("changes", INTEGER),
    ],
    Vote,
)

COOP_AUDIT = Table(
    "coop_audit",
    [
        Column("coop_id", TEXT),
        Column("seq", INTEGER),
        Column("kind", TEXT, decode=AuditKind, encode=str),
        Column("at", INTEGER, attr="at_us"),
        Column("actor_id", INTEGER),
        Column("proposal_id", TEXT),
        Column("body", JSON, decode=json.loads, encode=stored_json),
        Column("prev_hash", TEXT),
        Column("hash", TEXT),
    ],
    AuditEntry,
)

COOP_CATALOG = Table(
    "coop_catalog",
    [
        Column("supplier_id", TEXT),
        Column("item_id", TEXT),
        Column("name", TEXT),
        Column("price_ngwee", INTEGER),
        Column("capacity_wh", INTEGER),
    ],
    CatalogItem,
)

COOP_ASSETS = Table(
    "coop_assets",
    [
        Column("coop_id", TEXT),
        Column("proposal_id", TEXT),
        Column("item_id", TEXT),
        Column("name", TEXT),
        Column("quantity", INTEGER),
        Column("cost_ngwee", INTEGER),
        Column("supplier_id", TEXT),
        Column("acquired_at", INTEGER, attr="acquired_at_us"),
    ],
    Asset,
)


def _job(
    job_id: int,
    kind: str,
    key: str,
    due_at_us: int,
    payload: dict[str, str | int],
    state: JobState,
    attempts: int,
    lease_until_us: int,
    last_error: str,
    claims: int,
    updated_at_us: int,
) -> Job:
    return Job(
        kind, key, due_at_us, payload, state, attempts, lease_until_us, last_error, job_id, claims, updated_at_us
    )


JOBS = Table(
    "jobs",
    [
        Column("id", INTEGER, generated=True),
        Column("kind", TEXT),
        Column("key", TEXT),
        Column("due_at", INTEGER, attr="due_at_us"),
        Column("payload", JSON, decode=json.loads, encode=stored_json),
        Column("state", TEXT, decode=JobState, encode=str),
        Column("attempts", INTEGER),
        Column("lease_until", INTEGER, attr="lease_until_us"),
        Column("last_error", TEXT),
        Column("claims", INTEGER),
        Column("updated_at", INTEGER, attr="updated_at_us"),
    ],
    _job,
)
