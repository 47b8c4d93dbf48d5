"""Opening a proposal: checks, the electorate snapshot, the log entry and the job that moves it on time."""

from __future__ import annotations

import secrets

from engine.coops.audit import AuditKind
from engine.coops.config import CoopConfig
from engine.coops.model import CoopState, MemberState, Proposal, ProposalKind, ProposalState
from engine.coops.ports import CoopUnit
from engine.coops.register import vote_weight
from engine.coops.trail import AuditTrail
from engine.kernel.clock import MICROS_PER_SECOND
from engine.kernel.errors import CoopNotActive, TooManyOpenProposals

PROPOSAL_JOB = "coop.proposal"
# Everyone who can vote is in the snapshot; a co-op is capped well above the 10,000 members a drill uses.
MAX_ELECTORATE = 100_000


def new_proposal_id() -> str:
    return "pr-" + secrets.token_hex(5)


async def open_proposal(
    uow: CoopUnit,
    trail: AuditTrail,
    config: CoopConfig,
    *,
    proposer_id: int,
    kind: ProposalKind,
    payload: dict[str, str | int],
    now_us: int,
) -> Proposal:
    """Store a proposal whose payload the caller has checked, with who may vote on it and with what weight.

    The electorate is the co-op's full members at this moment (a member who
    joins or leaves later does not change it), as OpenZeppelin's Governor
    snapshots voting power when a proposal is made.
    """
    coop = trail.coop
    if coop.state is not CoopState.ACTIVE:
        raise CoopNotActive("the co-op is not active yet", needed=coop.bylaws.min_members, full=coop.full_members)
    if proposer_id:
        open_now = await uow.coops.count_open_proposals(coop.id, proposer_id)
        if open_now >= config.max_open_proposals_per_member:
            raise TooManyOpenProposals("too many open proposals", max=config.max_open_proposals_per_member)
    members = await uow.coops.members(coop.id, limit=MAX_ELECTORATE)
    electorate = [(m.user_id, vote_weight(m, coop.bylaws)) for m in members if m.state is MemberState.FULL]
    rules = coop.bylaws
    start = now_us + rules.voting_delay_s * MICROS_PER_SECOND
    proposal = Proposal(
        id=new_proposal_id(),
        coop_id=coop.id,
        kind=kind,
        proposer_id=proposer_id,
        payload=dict(payload),
        state=ProposalState.PENDING,
        created_at_us=now_us,
        vote_start_us=start,
        vote_end_us=start + rules.voting_period_s * MICROS_PER_SECOND,
        electorate_size=len(electorate),
        electorate_weight=sum(weight for _user, weight in electorate),
        quorum_pct=rules.quorum_pct,
        pass_pct=rules.pass_pct,
        supermajority=kind.supermajority,
        hide_results=rules.hide_results_until_close,
    )
    await uow.coops.insert_proposal(proposal, electorate)
    await trail.add(
        AuditKind.PROPOSED,
        at_us=now_us,
        actor_id=proposer_id,
        proposal_id=proposal.id,
        body={"kind": str(kind), **payload, "electorate": proposal.electorate_size},
    )
    await uow.jobs.schedule_job(PROPOSAL_JOB, proposal.id, due_at_us=proposal.vote_start_us, payload={})
    return proposal
