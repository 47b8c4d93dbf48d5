"""Proposals and votes: made by members, moved on time by the scheduler, executed exactly once.

The lifecycle follows OpenZeppelin's Governor: pending (a voting delay) ->
active -> defeated | succeeded -> queued (a delay before execution) ->
executed, or cancelled (by its proposer while pending) / expired (queued but
impossible to execute within the grace period). Nobody closes a vote: the
proposal's job wakes it at each deadline (:meth:`GovernanceService.advance`).

Every writer locks the co-op first, then the proposal (one order, no
deadlocks): votes of one co-op are appended to its log one at a time, and a
vote racing the close either lands before it (and counts) or after it (and
is refused), never half.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from engine.coops import execution
from engine.coops.audit import AuditEntry, AuditKind, ChainBreak, recount, verify_chain
from engine.coops.config import CoopConfig
from engine.coops.events import (
    ExecutionFailed,
    ProposalDecided,
    ProposalExecuted,
    ProposalExpired,
    VoteReminder,
    VotingOpened,
)
from engine.coops.membership import decide_application
from engine.coops.model import Choice, MemberState, Proposal, ProposalKind, ProposalState, Tally, Vote
from engine.coops.ports import CoopUnit, CoopUnits
from engine.coops.proposals import open_proposal
from engine.coops.trail import AuditTrail
from engine.identity.model import PinProof, User
from engine.identity.users import UserService
from engine.kernel.clock import MICROS_PER_SECOND, Clock
from engine.kernel.errors import (
    CoopNotFound,
    EnerlectraError,
    InvalidChoice,
    InvalidProposal,
    NotAMember,
    NotInElectorate,
    PinNotVerified,
    ProposalNotCancellable,
    ProposalNotFound,
    VotingClosed,
)


@dataclass(frozen=True, slots=True)
class VoteReceipt:
    proposal: Proposal  # with the tally after this vote
    vote: Vote
    changed: bool  # it replaced an earlier vote of the same member


@dataclass(frozen=True, slots=True)
class Recount:
    proposal_id: str
    stored: Tally
    from_votes: Tally
    from_log: Tally

    @property
    def agrees(self) -> bool:
        return self.stored == self.from_votes == self.from_log


def parse_choice(value: int | str | Choice) -> Choice:
    try:
        return Choice(int(value))
    except (TypeError, ValueError):
        raise InvalidChoice("1 Yes, 2 No, 3 Abstain", choice=str(value)) from None


class GovernanceService:
    def __init__(self, units: CoopUnits, config: CoopConfig, clock: Clock, users: UserService) -> None:
        self._units = units
        self.config = config
        self._clock = clock
        self._users = users

    # --- proposing -----------------------------------------------------------

    async def propose(
        self, proof: PinProof, user: User, coop_id: str, kind: ProposalKind | str, payload: dict[str, Any]
    ) -> Proposal:
        """A full member proposes; voting opens after the bylaws' delay."""
        if not self._users.proof_is_valid(proof, user):
            raise PinNotVerified("a proposal needs the member's PIN")
        try:
            kind = ProposalKind(kind)
        except ValueError:
            raise InvalidProposal("unknown kind of proposal", field="kind") from None
        if kind is ProposalKind.ADMIT_MEMBER:
            raise InvalidProposal("applications open their own proposal", field="kind")
        now = self._clock.now_us()

        async def work(uow: CoopUnit) -> Proposal:
            trail = await AuditTrail.open(uow.coops, coop_id)
            member = await uow.coops.member(coop_id, user.id)
            if member is None or member.state is not MemberState.FULL:
                raise NotAMember("only a full member proposes", needs="full")
            checked = await execution.checked_payload(uow, trail, self.config, kind, payload)
            proposal = await open_proposal(
                uow, trail, self.config, proposer_id=user.id, kind=kind, payload=checked, now_us=now
            )
            await trail.save()
            return proposal

        return await self._units.run(work)

    async def cancel(self, proof: PinProof, user: User, proposal_id: str) -> Proposal:
        if not self._users.proof_is_valid(proof, user):
            raise PinNotVerified("cancelling needs the proposer's PIN")
        now = self._clock.now_us()

        async def work(uow: CoopUnit) -> Proposal:
            trail, proposal = await self._open(uow, proposal_id)
            if proposal.proposer_id != user.id or proposal.state is not ProposalState.PENDING:
                raise ProposalNotCancellable("only the proposer, before voting opens", state=str(proposal.state))
            proposal = await self._move(uow, trail, proposal, ProposalState.CANCELLED, now, actor_id=user.id)
            await uow.jobs.cancel_job("coop.proposal", proposal.id)
            await trail.save()
            return proposal

        return await self._units.run(work)

    # --- voting ----------------------------------------------------------------

    async def vote(self, proof: PinProof, user: User, proposal_id: str, choice: int | str | Choice) -> VoteReceipt:
        """Cast or change a vote; only the member's last vote before the close counts."""
        if not self._users.proof_is_valid(proof, user):
            raise PinNotVerified("a vote needs the member's PIN")
        picked = parse_choice(choice)

        async def work(uow: CoopUnit) -> VoteReceipt:
            trail, proposal = await self._open(uow, proposal_id)
            now = self._clock.now_us()  # read under the locks: the close cannot slip in between
            voting = proposal.state in (ProposalState.PENDING, ProposalState.ACTIVE)
            if not voting or not proposal.vote_start_us <= now < proposal.vote_end_us:
                raise VotingClosed("voting is not open", state=str(proposal.state))
            weight = await uow.coops.electorate_weight(proposal.id, user.id)
            if weight is None:
                raise NotInElectorate("not a full member when this was proposed")
            before = await uow.coops.vote(proposal.id, user.id)
            tally = proposal.tally
            if before is not None:
                tally = tally.add(before.choice, before.weight, sign=-1)
            tally = tally.add(picked, weight)
            tally = replace(tally, voters=proposal.tally.voters + (before is None))
            vote = Vote(proposal.id, user.id, picked, weight, now, changes=0 if before is None else before.changes + 1)
            await uow.coops.save_vote(vote)
            proposal = await self._store(uow, replace(proposal, tally=tally))
            kind = AuditKind.VOTED if before is None else AuditKind.VOTE_CHANGED
            body: dict[str, str | int] = {"choice": int(picked), "weight": weight}
            await trail.add(kind, at_us=now, actor_id=user.id, proposal_id=proposal.id, body=body)
            await trail.save()
            return VoteReceipt(proposal, vote, changed=before is not None)

        return await self._units.run(work)

    # --- reading ---------------------------------------------------------------

    async def get(self, proposal_id: str) -> Proposal:
        proposal = await self._units.reads.coops.proposal_by_id(proposal_id)
        if proposal is None:
            raise ProposalNotFound("no such proposal", proposal_id=proposal_id)
        return proposal

    async def proposals(
        self, coop_id: str, *, open_only: bool = False, limit: int = 20, offset: int = 0
    ) -> list[Proposal]:
        return await self._units.reads.coops.proposals(coop_id, open_only=open_only, limit=limit, offset=offset)

    async def my_vote(self, proposal_id: str, user: User) -> Vote | None:
        return await self._units.reads.coops.vote(proposal_id, user.id)

    def visible_tally(self, proposal: Proposal) -> Tally | None:
        """The tally a member may see now: hidden until the close where the bylaws say so."""
        if proposal.hide_results and not proposal.state.closed_for_votes:
            return None
        return proposal.tally

    # --- the scheduler's side --------------------------------------------------

    async def advance(self, proposal_id: str) -> int | None:
        """Move the proposal through every deadline that has passed; execute it when due.

        The job handler for ``coop.proposal``: returns when the proposal needs
        waking next (None once it is over). Safe to run any number of times.
        """
        now = self._clock.now_us()
        due = await self._units.run(lambda uow: self._advance(uow, proposal_id, now))
        if due != now:
            return due
        try:
            return await self._units.run(lambda uow: self._execute(uow, proposal_id, now))
        except EnerlectraError as error:  # nothing it moved was kept: record why, tell the members, retry
            failure = error
        return await self._units.run(lambda uow: self._failed(uow, proposal_id, now, failure))

    async def _advance(self, uow: CoopUnit, proposal_id: str, now: int) -> int | None:
        trail, proposal = await self._open(uow, proposal_id)
        if proposal.state is ProposalState.PENDING and now >= proposal.vote_start_us:
            proposal = await self._move(uow, trail, proposal, ProposalState.ACTIVE, now)
            uow.record(
                VotingOpened(operation_id=f"opened:{proposal.id}", at_us=now, coop=trail.coop, proposal=proposal)
            )
        if proposal.state is ProposalState.ACTIVE and now >= proposal.vote_end_us:
            outcome = ProposalState.SUCCEEDED if proposal.passes else ProposalState.DEFEATED
            proposal = await self._move(uow, trail, proposal, outcome, now, tally=True)
            if proposal.kind is ProposalKind.ADMIT_MEMBER:
                admitted = outcome is ProposalState.SUCCEEDED
                await decide_application(uow, trail, int(proposal.payload["user_id"]), admitted=admitted, now_us=now)
            if outcome is ProposalState.SUCCEEDED:
                eta = proposal.vote_end_us + trail.coop.bylaws.execution_delay_s * MICROS_PER_SECOND
                proposal = await self._move(uow, trail, replace(proposal, eta_us=eta), ProposalState.QUEUED, now)
            uow.record(
                ProposalDecided(operation_id=f"decided:{proposal.id}", at_us=now, coop=trail.coop, proposal=proposal)
            )
        elif proposal.state is ProposalState.ACTIVE and not proposal.reminded:
            remind_at = proposal.vote_end_us - self.config.reminder_before_close_s * MICROS_PER_SECOND
            if now >= remind_at:
                proposal = await self._store(uow, replace(proposal, reminded=True))
                waiting = tuple(await uow.coops.electorate(proposal.id, without_vote=True))
                if waiting:
                    uow.record(VoteReminder(operation_id=f"remind:{proposal.id}", at_us=now, coop=trail.coop,
                                            proposal=proposal, user_ids=waiting))  # fmt: skip
        await trail.save()
        return self._next_due(proposal, now)

    def _next_due(self, proposal: Proposal, now: int) -> int | None:
        if proposal.state is ProposalState.PENDING:
            return proposal.vote_start_us
        if proposal.state is ProposalState.ACTIVE:
            remind_at = proposal.vote_end_us - self.config.reminder_before_close_s * MICROS_PER_SECOND
            return remind_at if not proposal.reminded and remind_at > now else proposal.vote_end_us
        if proposal.state is ProposalState.QUEUED:
            return max(proposal.eta_us, now) if proposal.eta_us > now else now  # now: execute in this call
        return None

    async def _execute(self, uow: CoopUnit, proposal_id: str, now: int) -> int | None:
        trail, proposal = await self._open(uow, proposal_id)
        if proposal.state is not ProposalState.QUEUED or now < proposal.eta_us:
            return self._next_due(proposal, now) if proposal.state is not ProposalState.QUEUED else proposal.eta_us
        await execution.execute(uow, trail, proposal, now_us=now)
        proposal = await self._move(uow, trail, replace(proposal, executed_at_us=now, failure=""),
                                    ProposalState.EXECUTED, now, kind=AuditKind.EXECUTED)  # fmt: skip
        uow.record(
            ProposalExecuted(operation_id=f"executed:{proposal.id}", at_us=now, coop=trail.coop, proposal=proposal)
        )
        await trail.save()
        return None

    async def _failed(self, uow: CoopUnit, proposal_id: str, now: int, error: EnerlectraError) -> int | None:
        trail, proposal = await self._open(uow, proposal_id)
        if proposal.state is not ProposalState.QUEUED:
            return None
        first = not proposal.failure
        proposal = replace(proposal, failure=error.code)
        body: dict[str, str | int] = {"code": error.code, "detail": error.detail[:200]}
        await trail.add(AuditKind.EXECUTION_FAILED, at_us=now, proposal_id=proposal.id, body=body)
        if now >= proposal.eta_us + self.config.execution_grace_s * MICROS_PER_SECOND:
            proposal = await self._move(uow, trail, proposal, ProposalState.EXPIRED, now)
            uow.record(
                ProposalExpired(operation_id=f"expired:{proposal.id}", at_us=now, coop=trail.coop, proposal=proposal)
            )
            await trail.save()
            return None
        proposal = await self._store(uow, proposal)
        if first:
            uow.record(ExecutionFailed(operation_id=f"failed:{proposal.id}", at_us=now, coop=trail.coop,
                                       proposal=proposal, first=first))  # fmt: skip
        await trail.save()
        return now + self.config.execution_retry_s * MICROS_PER_SECOND

    # --- shared steps ------------------------------------------------------------

    async def _open(self, uow: CoopUnit, proposal_id: str) -> tuple[AuditTrail, Proposal]:
        found = await uow.coops.proposal_by_id(proposal_id)
        if found is None:
            raise ProposalNotFound("no such proposal", proposal_id=proposal_id)
        trail = await AuditTrail.open(uow.coops, found.coop_id)  # the co-op's lock first, always
        proposal = await uow.coops.proposal_for_update(proposal_id)
        assert proposal is not None  # proposals are never deleted
        return trail, proposal

    async def _store(self, uow: CoopUnit, proposal: Proposal) -> Proposal:
        if not await uow.coops.update_proposal(proposal):
            raise RuntimeError("the proposal changed under its lock")
        return replace(proposal, version=proposal.version + 1)

    async def _move(
        self,
        uow: CoopUnit,
        trail: AuditTrail,
        proposal: Proposal,
        state: ProposalState,
        now: int,
        *,
        actor_id: int = 0,
        tally: bool = False,
        kind: AuditKind = AuditKind.TRANSITION,
    ) -> Proposal:
        body: dict[str, str | int] = {"from": str(proposal.state), "to": str(state)}
        if tally:
            t = proposal.tally
            body |= {"yes": t.yes, "no": t.no, "abstain": t.abstain, "voters": t.voters}
        moved = await self._store(uow, replace(proposal, state=state))
        await trail.add(kind, at_us=now, actor_id=actor_id, proposal_id=proposal.id, body=body)
        return moved

    # --- audit -------------------------------------------------------------------

    async def audit_log(self, coop_id: str, *, after_seq: int = 0, limit: int = 100) -> list[AuditEntry]:
        """The co-op's governance log from ``after_seq`` on, in order (for operators and auditors)."""
        return await self._units.reads.coops.audit_entries(coop_id, after_seq=after_seq, limit=min(max(limit, 1), 1000))

    async def verify(self, coop_id: str) -> tuple[ChainBreak | None, list[Recount]]:
        """The co-op's log checked link by link, and every proposal's tally recounted two ways."""
        reads = self._units.reads.coops
        coop = await reads.coop_by_id(coop_id)  # the head first: entries appended after it are not checked
        if coop is None:
            raise CoopNotFound("no such co-op", coop_id=coop_id)
        entries: list[AuditEntry] = []
        after = 0
        while after < coop.audit_seq:
            page = await reads.audit_entries(coop_id, after_seq=after, limit=min(5000, coop.audit_seq - after))
            if not page:
                break
            entries += page
            after = page[-1].seq
        broken = verify_chain(coop_id, entries, (coop.audit_seq, coop.audit_hash))
        from_log = recount(entries)
        recounts = []
        offset = 0
        while True:
            proposals = await reads.proposals(coop_id, limit=200, offset=offset)
            if not proposals:
                break
            for proposal in proposals:
                counted = Tally()
                votes = await reads.votes(proposal.id)
                for vote in votes:
                    counted = counted.add(vote.choice, vote.weight)
                counted = replace(counted, voters=len(votes))
                recounts.append(Recount(proposal.id, proposal.tally, counted, from_log.get(proposal.id, Tally())))
            offset += len(proposals)
        return broken, recounts
