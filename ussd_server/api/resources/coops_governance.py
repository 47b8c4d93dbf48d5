"""A co-op's proposals and votes, as on USSD: full members propose and vote with their PIN.

Nobody closes a vote: the scheduler moves every proposal on at its deadlines
(pending, voting, then defeated or succeeded, queued, executed), and carries
out what passed exactly once. A member may change their vote until voting
closes; only the last counts. Where the bylaws hide results, the tally is
hidden from everyone, operators included, until voting closes.
"""

from __future__ import annotations

import contextlib
import re

from engine.coops.model import Proposal
from engine.identity.model import User
from engine.kernel.errors import ProposalNotFound
from ussd_server.api import scopes
from ussd_server.api.models.coop_views import AuditEntryView, CoopAudit, ProposalView, VoteCast
from ussd_server.api.models.coops import (
    CHOICES,
    COOP_ID_PATTERN,
    PROPOSAL_ID_PATTERN,
    AuditQuery,
    CastVote,
    ConfirmWithPin,
    ProposalsQuery,
    Propose,
)
from ussd_server.api.pins import verified
from ussd_server.api.resources.coops import coop_id_of, members_reader
from ussd_server.api.routing import Call, Idempotency, Reply, Route
from ussd_server.phones import parse_zambian_mobile

_PROPOSAL_ID = re.compile(PROPOSAL_ID_PATTERN)
_COOP = {"coop_id": COOP_ID_PATTERN}
_PROPOSAL = {"coop_id": COOP_ID_PATTERN, "proposal_id": PROPOSAL_ID_PATTERN}


async def _proposal(call: Call, coop_id: str) -> Proposal:
    """The path's proposal, if it is this co-op's; otherwise COOP_NOT_FOUND or PROPOSAL_NOT_FOUND, in that order."""
    proposal_id = call.path("proposal_id")
    if _PROPOSAL_ID.match(proposal_id):
        with contextlib.suppress(ProposalNotFound):
            found = await call.platform.governance.get(proposal_id)
            if found.coop_id == coop_id:
                return found
    await call.platform.coops.get(coop_id)  # only on the way to a refusal: which of the two is unknown
    raise ProposalNotFound("no such proposal in this co-op", proposal_id=proposal_id[:60])


async def _view(call: Call, proposal: Proposal, viewer: User | None) -> ProposalView:
    governance = call.platform.governance
    vote = await governance.my_vote(proposal.id, viewer) if viewer is not None else None
    return ProposalView.of(proposal, governance.visible_tally(proposal), viewer=viewer, vote=vote)


async def proposals(call: Call) -> Reply:
    query, coop_id = call.query_as(ProposalsQuery), coop_id_of(call)
    viewer = await members_reader(call, coop_id)
    found = await call.platform.governance.proposals(
        coop_id, open_only=query.open, limit=query.limit, offset=query.offset
    )
    return Reply([await _view(call, p, viewer) for p in found])


async def proposal(call: Call) -> Reply:
    coop_id = coop_id_of(call)
    viewer = await members_reader(call, coop_id)
    return Reply(await _view(call, await _proposal(call, coop_id), viewer))


async def propose(call: Call) -> Reply:
    body, user, coop_id = call.body_as(Propose), call.user(), coop_id_of(call)
    payload: dict[str, str | int] = body.payload.model_dump(exclude_none=True)
    if "phone" in payload:
        payload["phone"] = parse_zambian_mobile(str(payload["phone"]))
    proof = await verified(call, user, body.pin)
    made = await call.platform.governance.propose(proof, user, coop_id, body.kind, payload)
    return Reply(await _view(call, made, user), status=201)


async def vote(call: Call) -> Reply:
    body, user, coop_id = call.body_as(CastVote), call.user(), coop_id_of(call)
    found = await _proposal(call, coop_id)
    proof = await verified(call, user, body.pin)
    receipt = await call.platform.governance.vote(proof, user, found.id, CHOICES[body.choice])
    return Reply(VoteCast.of(receipt, call.platform.governance.visible_tally(receipt.proposal), user))


async def cancel_proposal(call: Call) -> Reply:
    body, user, coop_id = call.body_as(ConfirmWithPin), call.user(), coop_id_of(call)
    found = await _proposal(call, coop_id)
    proof = await verified(call, user, body.pin)
    return Reply(await _view(call, await call.platform.governance.cancel(proof, user, found.id), user))


async def verify_coop(call: Call) -> Reply:
    coop_id = coop_id_of(call)
    await call.platform.coops.get(coop_id)
    broken, recounts = await call.platform.governance.verify(coop_id)
    return Reply(CoopAudit.of(coop_id, broken, recounts))


async def audit_log(call: Call) -> Reply:
    query, coop_id = call.query_as(AuditQuery), coop_id_of(call)
    await call.platform.coops.get(coop_id)
    entries = await call.platform.governance.audit_log(coop_id, after_seq=query.after_seq, limit=query.limit)
    users = await call.platform.users.by_ids(sorted({e.actor_id for e in entries if e.actor_id}))
    phones = {user_id: user.phone for user_id, user in users.items()}
    return Reply([AuditEntryView.of(entry, phones) for entry in entries])


ROUTES = (
    Route(
        "GET",
        "/coops/{coop_id}/proposals",
        proposals,
        "A co-op's proposals, newest first",
        "coops",
        scopes.USER_OR_ADMIN,
        data=list[ProposalView],
        query=ProposalsQuery,
        path_patterns=_COOP,
        description="`open=true` for those still open. A user's token reads its own co-ops' only "
        "(`NOT_A_MEMBER`, 422). Page with `limit` and `offset`.",
    ),
    Route(
        "POST",
        "/coops/{coop_id}/proposals",
        propose,
        "Propose something the members vote on",
        "coops",
        scopes.USER,
        data=ProposalView,
        status=201,
        body=Propose,
        idempotency=Idempotency.OPTIONAL,
        kind="coop-propose",
        pin=True,
        path_patterns=_COOP,
        description="Full members of an active co-op only (`NOT_A_MEMBER`, `COOP_NOT_ACTIVE`), a few open "
        "proposals each (`TOO_MANY_OPEN_PROPOSALS` with `details.max`). Voting opens after the bylaws' delay; "
        "members get an SMS. The electorate is the full members now: who joins later does not vote on it. "
        "`INVALID_PROPOSAL` (422) names what is missing in `details.field`; `CATALOG_ITEM_NOT_FOUND` (404). "
        "An Idempotency-Key makes a retry safe.",
    ),
    Route(
        "GET",
        "/coops/{coop_id}/proposals/{proposal_id}",
        proposal,
        "One proposal: its state, the tally (unless hidden) and your vote",
        "coops",
        scopes.USER_OR_ADMIN,
        data=ProposalView,
        path_patterns=_PROPOSAL,
        description="`PROPOSAL_NOT_FOUND` (404), also for a proposal of another co-op.",
    ),
    Route(
        "POST",
        "/coops/{coop_id}/proposals/{proposal_id}/votes",
        vote,
        "Vote, or change your vote (the last one counts)",
        "coops",
        scopes.USER,
        data=VoteCast,
        body=CastVote,
        idempotency=Idempotency.OPTIONAL,
        kind="coop-vote",
        pin=True,
        path_patterns=_PROPOSAL,
        description="While voting is open (`VOTING_CLOSED`, 422, before or after), by those who were full "
        "members when it was proposed (`NOT_IN_ELECTORATE`, 422). Quorum counts Yes and Abstain.",
    ),
    Route(
        "POST",
        "/coops/{coop_id}/proposals/{proposal_id}/cancel",
        cancel_proposal,
        "Withdraw your proposal before voting opens",
        "coops",
        scopes.USER,
        data=ProposalView,
        body=ConfirmWithPin,
        idempotency=Idempotency.OPTIONAL,
        kind="coop-cancel",
        pin=True,
        path_patterns=_PROPOSAL,
        description="`PROPOSAL_NOT_CANCELLABLE` (422) for someone else's, or once voting has opened.",
    ),
    Route(
        "GET",
        "/coops/{coop_id}/verify",
        verify_coop,
        "Check a co-op's governance log and recount every tally (operators)",
        "coops",
        scopes.ADMINS,
        data=CoopAudit,
        path_patterns=_COOP,
        description="As `enerlectra coop verify` does: every entry's hash, and each proposal's tally against "
        "the votes and against the log.",
    ),
    Route(
        "GET",
        "/coops/{coop_id}/audit",
        audit_log,
        "A co-op's governance log, in order (operators)",
        "coops",
        scopes.ADMINS,
        data=list[AuditEntryView],
        query=AuditQuery,
        path_patterns=_COOP,
        description="Every proposal, vote, change of vote, transition, execution, contribution and refund, each "
        "with the hash that chains it to the one before. Page with `after_seq` (the last `seq` you have).",
    ),
)
