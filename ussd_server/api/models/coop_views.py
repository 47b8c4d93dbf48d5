"""Co-ops as the API shows them: the register, the treasury, proposals and their tallies, in integers."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from engine.coops.audit import AuditEntry, ChainBreak
from engine.coops.bylaws import Bylaws
from engine.coops.governance import Recount, VoteReceipt
from engine.coops.model import CatalogItem, Choice, Cooperative, Member, Proposal, Tally, Vote
from engine.coops.service import ContributionReceipt, CoopSummary
from engine.identity.model import User
from ussd_server.api.models.common import Money, View, at
from ussd_server.api.models.coops import (
    AdmissionText,
    ChoiceText,
    CoopKindText,
    RegionText,
    RoleText,
    VotingModeText,
)

CoopStateText = Literal["forming", "active"]
MemberStateText = Literal["applied", "admitted", "full", "leaving", "left", "removed", "rejected"]
ProposalKindText = Literal[
    "buy_equipment",
    "maintenance",
    "admit_member",
    "remove_member",
    "set_price",
    "change_bylaw",
    "elect_role",
    "decision",
]
ProposalStateText = Literal["pending", "active", "defeated", "succeeded", "queued", "executed", "cancelled", "expired"]
_CHOICE_TEXT: dict[Choice, ChoiceText] = {Choice.YES: "yes", Choice.NO: "no", Choice.ABSTAIN: "abstain"}
# Ids of people stay inside the platform: a payload shows their numbers instead.
_INTERNAL = frozenset({"user_id", "payee_id"})


def _when(us: int) -> datetime | None:
    return at(us) if us else None


class BylawsView(View):
    """The rules the members agreed (names as a `change_bylaw` proposal uses them)."""

    par_value_ngwee: int
    min_contribution_ngwee: int
    max_contribution_ngwee: int
    contribution_deadline_days: int
    min_members: int
    voting_mode: VotingModeText
    quorum_pct: int
    pass_pct: int
    voting_delay_s: int
    voting_period_s: int
    execution_delay_s: int
    admission: AdmissionText
    exit_notice_days: int
    hide_results_until_close: bool

    @classmethod
    def of(cls, bylaws: Bylaws) -> BylawsView:
        return cls.model_validate(
            {**bylaws.to_dict(), "hide_results_until_close": bylaws.hide_results_until_close}, strict=False
        )


class CoopView(View):
    id: str
    name: str
    kind: CoopKindText
    region: RegionText
    state: CoopStateText = Field(description="`forming` until `min_members` full members; then `active`")
    full_members: int
    min_members: int
    created_at: datetime

    @classmethod
    def of(cls, coop: Cooperative) -> CoopView:
        return cls(
            id=coop.id,
            name=coop.name,
            kind=coop.kind,  # type: ignore[arg-type]  # the cluster kinds are the literals
            region=str(coop.region),  # type: ignore[arg-type]  # Region's values are the literals
            state=str(coop.state),  # type: ignore[arg-type]  # CoopState's values are the literals
            full_members=coop.full_members,
            min_members=coop.bylaws.min_members,
            created_at=at(coop.created_at_us),
        )


class MembershipView(View):
    """A member's place in the register: contributions become whole shares at par, the rest is credit."""

    coop_id: str
    state: MemberStateText = Field(description="`full` members vote and propose; `leaving` wait for their refund")
    role: RoleText
    shares: int
    contributed: Money
    refunded: Money
    credit: Money = Field(description="paid toward the next share")
    holding: Money = Field(description="what the stake is worth at par: shares x par + credit")
    joined_at: datetime
    refund_due_at: datetime | None = Field(description="when a leaving member's notice ends")

    @classmethod
    def of(cls, member: Member) -> MembershipView:
        return cls(
            coop_id=member.coop_id,
            state=str(member.state),  # type: ignore[arg-type]  # MemberState's values are the literals
            role=str(member.role),  # type: ignore[arg-type]  # Role's values are the literals
            shares=member.shares,
            contributed=Money.of(member.contributed_ngwee),
            refunded=Money.of(member.refunded_ngwee),
            credit=Money.of(member.credit_ngwee),
            holding=Money.of(member.holding_ngwee),
            joined_at=at(member.joined_at_us),
            refund_due_at=_when(member.exit_at_us),
        )


class CoopSummaryView(CoopView):
    bylaws: BylawsView
    treasury: Money = Field(description="money the co-op holds")
    members: int = Field(description="current members: admitted, full and leaving")
    open_proposals: int
    energy_available_wh: int = Field(description="energy in the co-op's pool")
    me: MembershipView | None = Field(description="your place in the register (a user's token; null otherwise)")

    @classmethod
    def of_summary(cls, summary: CoopSummary) -> CoopSummaryView:
        return cls(
            **CoopView.of(summary.coop).model_dump(),
            bylaws=BylawsView.of(summary.coop.bylaws),
            treasury=Money.of(summary.treasury_ngwee),
            members=summary.members,
            open_proposals=summary.open_proposals,
            energy_available_wh=summary.energy_available_wh,
            me=MembershipView.of(summary.me) if summary.me is not None else None,
        )


class MyCoop(View):
    coop: CoopView
    me: MembershipView


class MemberView(View):
    phone: str = Field(description="what a proposal to elect or remove a member names")
    name: str = Field(description="first name and last initial, as USSD shows it")
    state: MemberStateText
    role: RoleText
    shares: int
    contributed: Money
    joined_at: datetime

    @classmethod
    def of(cls, member: Member, user: User | None) -> MemberView:
        return cls(
            phone=member.phone,
            name=user.short_name if user is not None else "",
            state=str(member.state),  # type: ignore[arg-type]  # MemberState's values are the literals
            role=str(member.role),  # type: ignore[arg-type]  # Role's values are the literals
            shares=member.shares,
            contributed=Money.of(member.contributed_ngwee),
            joined_at=at(member.joined_at_us),
        )


class Contribution(View):
    reference: str = Field(description="the same on the SMS receipt and the wallet's statement")
    amount: Money
    coop_id: str
    coop_state: CoopStateText = Field(description="`active` once this made the last full member it needed")
    membership: MembershipView

    @classmethod
    def of(cls, receipt: ContributionReceipt) -> Contribution:
        return cls(
            reference=receipt.reference,
            amount=Money.of(receipt.amount_ngwee),
            coop_id=receipt.coop.id,
            coop_state=str(receipt.coop.state),  # type: ignore[arg-type]  # CoopState's values are the literals
            membership=MembershipView.of(receipt.member),
        )


class TallyView(View):
    yes: int
    no: int
    abstain: int
    voters: int = Field(description="members who voted (a changed vote counts once)")

    @classmethod
    def of(cls, tally: Tally) -> TallyView:
        return cls(yes=tally.yes, no=tally.no, abstain=tally.abstain, voters=tally.voters)


class MyVote(View):
    choice: ChoiceText
    changes: int = Field(description="how many times you changed it (only the last counts)")
    at: datetime

    @classmethod
    def of(cls, vote: Vote) -> MyVote:
        return cls(choice=_CHOICE_TEXT[vote.choice], changes=vote.changes, at=at(vote.at_us))


class ProposalView(View):
    id: str
    number: str = Field(description="the five characters people see on a phone and in an SMS")
    coop_id: str
    kind: ProposalKindText
    state: ProposalStateText
    open: bool = Field(description="pending, voting, or waiting to be carried out")
    payload: dict[str, str | int] = Field(description="what the members decide, as checked when it was proposed")
    by_platform: bool = Field(description="opened by the platform for an application to join")
    yours: bool = Field(description="you proposed it")
    created_at: datetime
    voting_opens_at: datetime
    voting_closes_at: datetime
    executes_at: datetime | None = Field(description="set once it passed")
    executed_at: datetime | None
    electorate: int = Field(description="full members when it was proposed: they, and only they, vote on it")
    electorate_weight: int = Field(description="their votes' total weight (the electorate, one member one vote)")
    quorum_pct: int
    pass_pct: int
    two_thirds: bool = Field(description="needs two-thirds of the votes cast (changing the bylaws)")
    results_hidden: bool = Field(description="the bylaws hide the tally until voting closes")
    tally: TallyView | None = Field(description="null while hidden")
    failure: str | None = Field(description="why carrying it out failed last (`insufficient_funds`...)")
    my_vote: MyVote | None = Field(description="your vote (a user's token; null otherwise)")

    @classmethod
    def of(cls, proposal: Proposal, tally: Tally | None, *, viewer: User | None, vote: Vote | None) -> ProposalView:
        return cls(
            id=proposal.id,
            number=proposal.number,
            coop_id=proposal.coop_id,
            kind=str(proposal.kind),  # type: ignore[arg-type]  # ProposalKind's values are the literals
            state=str(proposal.state),  # type: ignore[arg-type]  # ProposalState's values are the literals
            open=proposal.state.open,
            payload={k: v for k, v in proposal.payload.items() if k not in _INTERNAL},
            by_platform=proposal.proposer_id == 0,
            yours=viewer is not None and proposal.proposer_id == viewer.id,
            created_at=at(proposal.created_at_us),
            voting_opens_at=at(proposal.vote_start_us),
            voting_closes_at=at(proposal.vote_end_us),
            executes_at=_when(proposal.eta_us),
            executed_at=_when(proposal.executed_at_us),
            electorate=proposal.electorate_size,
            electorate_weight=proposal.electorate_weight,
            quorum_pct=proposal.quorum_pct,
            pass_pct=proposal.pass_pct,
            two_thirds=proposal.supermajority,
            results_hidden=tally is None,
            tally=TallyView.of(tally) if tally is not None else None,
            failure=proposal.failure or None,
            my_vote=MyVote.of(vote) if vote is not None else None,
        )


class VoteCast(View):
    choice: ChoiceText
    changed: bool = Field(description="it replaced your earlier vote")
    proposal: ProposalView

    @classmethod
    def of(cls, receipt: VoteReceipt, tally: Tally | None, viewer: User) -> VoteCast:
        proposal = ProposalView.of(receipt.proposal, tally, viewer=viewer, vote=receipt.vote)
        return cls(choice=_CHOICE_TEXT[receipt.vote.choice], changed=receipt.changed, proposal=proposal)


class CatalogEntry(View):
    item: str = Field(description="what a `buy_equipment` proposal names")
    name: str
    price: Money = Field(description="the supplier's bulk price for one")
    capacity_wh: int = Field(description="energy a generation cycle adds, where it generates")

    @classmethod
    def of(cls, item: CatalogItem) -> CatalogEntry:
        return cls(item=item.item_id, name=item.name, price=Money.of(item.price_ngwee), capacity_wh=item.capacity_wh)


class CoopAudit(View):
    """The governance log checked link by link, and every tally recounted from the votes and from the log."""

    coop_id: str
    chain_ok: bool
    broken_at_seq: int | None = Field(description="the first entry that does not hold up")
    why: str | None
    proposals: int = Field(description="proposals recounted")
    recounts_disagree: list[str] = Field(description="ids of proposals whose stored tally differs from a recount")

    @classmethod
    def of(cls, coop_id: str, broken: ChainBreak | None, recounts: list[Recount]) -> CoopAudit:
        return cls(
            coop_id=coop_id,
            chain_ok=broken is None,
            broken_at_seq=broken.seq if broken is not None else None,
            why=broken.why if broken is not None else None,
            proposals=len(recounts),
            recounts_disagree=[r.proposal_id for r in recounts if not r.agrees],
        )


class AuditEntryView(View):
    """One entry of a co-op's governance log: what happened, who did it, and the hashes that chain it."""

    seq: int
    kind: str = Field(examples=["voted"])
    at: datetime
    actor: Literal["member", "platform"]
    actor_phone: str | None = Field(description="the member who acted, where one did")
    proposal_id: str | None
    body: dict[str, str | int]
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, entry: AuditEntry, phones: dict[int, str]) -> AuditEntryView:
        return cls(
            seq=entry.seq,
            kind=str(entry.kind),
            at=at(entry.at_us),
            actor="member" if entry.actor_id else "platform",
            actor_phone=phones.get(entry.actor_id),
            proposal_id=entry.proposal_id or None,
            body=entry.body,
            prev_hash=entry.prev_hash,
            hash=entry.hash,
        )
