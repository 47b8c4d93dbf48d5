"""Co-ops, their members and proposals: the records the service keeps, all in integers.

A co-op is built on a community solar cluster with the same id: the cluster's
treasury account is the co-op's treasury (contributions, energy sales and
refunds all move through it), its pool is the energy the members share.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from engine.coops.bylaws import Bylaws


class Region(enum.StrEnum):
    LUSAKA = "lusaka"
    KABWE = "kabwe"
    COPPERBELT = "copperbelt"
    RURAL = "rural"  # a rural village

    @property
    def cluster_region(self) -> str:
        """How clusters name the region (the Buy menu lists clusters by it): Lusaka, Kabwe, Copperbelt, Rural."""
        return self.value.capitalize()


class CoopState(enum.StrEnum):
    FORMING = "forming"  # fewer full members than its bylaws' minimum
    ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class Cooperative:
    id: str  # the cluster's id (a short slug)
    name: str
    kind: str  # micro, neighbourhood, industrial, supply (the cluster kinds)
    region: Region
    bylaws: Bylaws
    founder_id: int
    state: CoopState = CoopState.FORMING
    created_at_us: int = 0
    full_members: int = 0  # members whose contributions reached the minimum
    # The head of the co-op's governance log (see engine.coops.audit).
    audit_seq: int = 0
    audit_hash: str = ""

    @property
    def treasury_account_id(self) -> str:
        return f"cluster:{self.id}:treasury"


class MemberState(enum.StrEnum):
    APPLIED = "applied"  # asked to join a co-op that admits by vote
    ADMITTED = "admitted"  # may contribute; a full member from the minimum contribution
    FULL = "full"  # contributed at least the minimum: votes and proposes
    LEAVING = "leaving"  # gave notice; refunded when it ends (in order, as the treasury allows)
    LEFT = "left"  # refunded
    REMOVED = "removed"  # removed by a vote; refunded like a leaver
    REJECTED = "rejected"  # an application the members turned down

    @property
    def current(self) -> bool:
        return self in (MemberState.ADMITTED, MemberState.FULL, MemberState.LEAVING)


class Role(enum.StrEnum):
    MEMBER = "member"
    CHAIR = "chair"
    TREASURER = "treasurer"


@dataclass(frozen=True, slots=True)
class Member:
    coop_id: str
    user_id: int
    phone: str
    state: MemberState
    role: Role = Role.MEMBER
    contributed_ngwee: int = 0  # everything paid in
    refunded_ngwee: int = 0  # everything paid back
    shares: int = 0  # whole shares at par
    credit_ngwee: int = 0  # paid toward the next share (< par)
    joined_at_us: int = 0
    exit_at_us: int = 0  # when a leaving member's notice ends
    version: int = 0

    @property
    def holding_ngwee(self) -> int:
        """What the member's stake is worth at par: shares x par + credit."""
        return self.contributed_ngwee - self.refunded_ngwee


class ProposalKind(enum.StrEnum):
    BUY_EQUIPMENT = "buy_equipment"  # from a supply co-op's catalog, paying the supplier
    MAINTENANCE = "maintenance"  # pay a member (or anyone registered) for work done
    ADMIT_MEMBER = "admit_member"
    REMOVE_MEMBER = "remove_member"
    SET_PRICE = "set_price"  # the co-op's energy price, ngwee per kWh
    CHANGE_BYLAW = "change_bylaw"  # one bylaw at a time: a keypad can say it
    ELECT_ROLE = "elect_role"
    DECISION = "decision"  # a short free text the members decide on

    @property
    def number(self) -> int:
        """1-8, for catalogs whose texts vary by kind."""
        return list(ProposalKind).index(self) + 1

    @property
    def supermajority(self) -> bool:
        """Changing the rules (and, with assets, selling them) needs two-thirds of the votes cast."""
        return self is ProposalKind.CHANGE_BYLAW

    @property
    def moves_money(self) -> bool:
        return self in (ProposalKind.BUY_EQUIPMENT, ProposalKind.MAINTENANCE)


class ProposalState(enum.StrEnum):
    PENDING = "pending"  # voting opens after the bylaws' delay
    ACTIVE = "active"  # voting
    DEFEATED = "defeated"
    SUCCEEDED = "succeeded"
    QUEUED = "queued"  # waiting out the delay before execution
    EXECUTED = "executed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # queued, but could not be executed within the grace period

    @property
    def open(self) -> bool:
        return self in (ProposalState.PENDING, ProposalState.ACTIVE, ProposalState.SUCCEEDED, ProposalState.QUEUED)

    @property
    def closed_for_votes(self) -> bool:
        return self not in (ProposalState.PENDING, ProposalState.ACTIVE)


class Choice(enum.IntEnum):
    """As a member keys it: 1 Yes, 2 No, 3 Abstain."""

    YES = 1
    NO = 2
    ABSTAIN = 3


@dataclass(frozen=True, slots=True)
class Tally:
    yes: int = 0
    no: int = 0
    abstain: int = 0
    voters: int = 0  # members who voted (a changed vote counts once)

    def add(self, choice: Choice, weight: int, *, sign: int = 1) -> Tally:
        yes, no, abstain = self.yes, self.no, self.abstain
        if choice is Choice.YES:
            yes += sign * weight
        elif choice is Choice.NO:
            no += sign * weight
        else:
            abstain += sign * weight
        return Tally(yes, no, abstain, self.voters)


@dataclass(frozen=True, slots=True)
class Proposal:
    id: str
    coop_id: str
    kind: ProposalKind
    proposer_id: int  # 0: opened by the platform (an application to a co-op that admits by vote)
    payload: dict[str, str | int]
    state: ProposalState
    created_at_us: int
    vote_start_us: int
    vote_end_us: int
    # Snapshotted when it was created: who may vote and how much each vote weighs.
    electorate_size: int
    electorate_weight: int
    quorum_pct: int
    pass_pct: int
    supermajority: bool
    hide_results: bool = False
    tally: Tally = field(default_factory=Tally)
    eta_us: int = 0  # when a queued proposal is executed
    executed_at_us: int = 0
    failure: str = ""  # why the last execution failed (the treasury was short, ...)
    reminded: bool = False  # the 24-hour reminder went out
    version: int = 0

    @property
    def number(self) -> str:
        """How people name it on a phone and in an SMS: five characters of its id."""
        return self.id.removeprefix("pr-")[:5].upper()

    @property
    def quorum_reached(self) -> bool:
        counted = self.tally.yes + self.tally.abstain
        return counted * 100 >= self.quorum_pct * self.electorate_weight and counted > 0

    @property
    def passes(self) -> bool:
        """Quorum reached, and Yes beats the threshold of Yes + No (two-thirds where the kind needs it)."""
        yes, cast = self.tally.yes, self.tally.yes + self.tally.no
        if not self.quorum_reached or yes == 0:
            return False
        if self.supermajority:
            return yes * 3 >= cast * 2
        return yes * 100 > cast * self.pass_pct


@dataclass(frozen=True, slots=True)
class Vote:
    proposal_id: str
    user_id: int
    choice: Choice
    weight: int
    at_us: int
    changes: int = 0  # how many times the member changed it


@dataclass(frozen=True, slots=True)
class CatalogItem:
    """Equipment a supply co-op offers other co-ops at its bulk price."""

    supplier_id: str  # the supply co-op
    item_id: str  # short slug, e.g. "panel-400w"
    name: str
    price_ngwee: int
    capacity_wh: int = 0  # energy a generation cycle adds, where it generates


@dataclass(frozen=True, slots=True)
class Asset:
    """Equipment a co-op owns, bought by an executed proposal."""

    coop_id: str
    proposal_id: str
    item_id: str
    name: str
    quantity: int
    cost_ngwee: int
    supplier_id: str
    acquired_at_us: int
