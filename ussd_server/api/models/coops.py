"""Co-ops: what a request to form, join, contribute to, propose in and vote in a co-op carries.

Bylaws, proposal payloads and amounts are typed here only as far as their
shape goes; the engine checks each value against the rules and names the
first it refuses (``INVALID_BYLAWS`` with ``details.bylaw``,
``INVALID_PROPOSAL`` with ``details.field``), so the ranges live in one place.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field
from pydantic.json_schema import SkipJsonSchema

from ussd_server.api.models.common import Body, Ngwee, PhoneText, Pin, PricePerKwh, Query

# A co-op runs a cluster of the same id (engine.energy.clusters' slug); a proposal's id is "pr-" and ten hex.
COOP_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$"
PROPOSAL_ID_PATTERN = r"^pr-[0-9a-f]{10}$"
ITEM_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,39}$"
CoopKindText = Literal["micro", "neighbourhood", "industrial", "supply"]
RegionText = Literal["lusaka", "kabwe", "copperbelt", "rural"]
VotingModeText = Literal["one_member_one_vote", "share_weighted"]
AdmissionText = Literal["open", "by_vote"]
RoleText = Literal["member", "chair", "treasurer"]
# What a member proposes (an application opens its own `admit_member` proposal).
ProposableKind = Literal[
    "buy_equipment", "maintenance", "remove_member", "set_price", "change_bylaw", "elect_role", "decision"
]
BylawName = Literal[
    "par_value_ngwee",
    "min_contribution_ngwee",
    "max_contribution_ngwee",
    "contribution_deadline_days",
    "min_members",
    "voting_mode",
    "quorum_pct",
    "pass_pct",
    "voting_delay_s",
    "voting_period_s",
    "execution_delay_s",
    "admission",
    "exit_notice_days",
    "hide_results_until_close",
]
ChoiceText = Literal["yes", "no", "abstain"]
CHOICES: dict[int | str, int] = {1: 1, 2: 2, 3: 3, "yes": 1, "no": 2, "abstain": 3}


def _whole(value: object) -> object:
    """``2000.0`` is the integer 2000 in JSON; ``1.5`` is no integer (as ``common.Ngwee`` reads it)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _left_out(schema: dict[str, Any]) -> None:
    """An optional field whose null is not a value: no ``default: null`` in the document."""
    schema.pop("default", None)


Count = Annotated[int, Field(ge=0, le=1_000_000_000), BeforeValidator(_whole)]
Quantity = Annotated[int, Field(ge=1, le=1000), BeforeValidator(_whole)]


class BylawChanges(Body):
    """Bylaws that differ from the defaults of the co-op's type; a bylaw left out keeps its default.

    Money in ngwee, times in seconds or days, shares of a vote in whole percent.
    """

    par_value_ngwee: Count | SkipJsonSchema[None] = Field(default=None, description="the price of one share")
    min_contribution_ngwee: Count | SkipJsonSchema[None] = Field(
        default=None, description="what makes a full (voting) member"
    )
    max_contribution_ngwee: Count | SkipJsonSchema[None] = Field(
        default=None, description="the most one member pays in: nobody buys control"
    )
    contribution_deadline_days: Count | SkipJsonSchema[None] = Field(
        default=None, description="instalments are taken this long after joining"
    )
    min_members: Count | SkipJsonSchema[None] = Field(default=None, description="full members that make it active")
    voting_mode: VotingModeText | SkipJsonSchema[None] = None
    quorum_pct: Count | SkipJsonSchema[None] = Field(
        default=None, description="Yes and Abstain needed, as a share of the electorate"
    )
    pass_pct: Count | SkipJsonSchema[None] = Field(default=None, description="Yes must be more than this of Yes + No")
    voting_delay_s: Count | SkipJsonSchema[None] = Field(default=None, description="from proposing to voting")
    voting_period_s: Count | SkipJsonSchema[None] = Field(default=None, description="how long a vote is open")
    execution_delay_s: Count | SkipJsonSchema[None] = Field(
        default=None, description="from a proposal passing to it being carried out"
    )
    admission: AdmissionText | SkipJsonSchema[None] = None
    exit_notice_days: Count | SkipJsonSchema[None] = Field(default=None, description="before a leaver is refunded")
    hide_results_until_close: bool | SkipJsonSchema[None] = None


class FormCoop(Body):
    name: str = Field(min_length=3, max_length=40, examples=["Chawama Solar"])
    kind: CoopKindText = Field(
        description="micro: 10-25 households sharing one installation; neighbourhood: 50-100 prosumers; "
        "industrial: 1-2 independent producers; supply: equipment suppliers offering bulk prices"
    )
    region: RegionText
    bylaws: BylawChanges | SkipJsonSchema[None] = None
    price_ngwee_per_kwh: PricePerKwh | SkipJsonSchema[None] = Field(
        default=None, description="the co-op's energy price; the platform's price when left out"
    )
    pin: Pin


class Contribute(Body):
    amount_ngwee: Ngwee
    pin: Pin


class ConfirmWithPin(Body):
    pin: Pin


class ProposalPayload(Body):
    """What the members vote on; each kind reads its own fields and refuses the proposal without them.

    buy_equipment: `supplier` (a supply co-op's id), `item`, `quantity`; maintenance: `phone` (who is paid),
    `amount_ngwee`, `text`; remove_member: `phone`; elect_role: `phone`, `role`; set_price:
    `price_ngwee_per_kwh`; change_bylaw: `bylaw`, `value`; decision: `text`.
    """

    supplier: Annotated[str, Field(pattern=COOP_ID_PATTERN)] | SkipJsonSchema[None] = None
    item: Annotated[str, Field(pattern=ITEM_ID_PATTERN, examples=["panel-400w"])] | SkipJsonSchema[None] = None
    quantity: Quantity | SkipJsonSchema[None] = None
    phone: PhoneText | SkipJsonSchema[None] = None
    amount_ngwee: Ngwee | SkipJsonSchema[None] = None
    text: Annotated[str, Field(min_length=1, max_length=120)] | SkipJsonSchema[None] = None
    role: Literal["chair", "treasurer"] | SkipJsonSchema[None] = None
    price_ngwee_per_kwh: PricePerKwh | SkipJsonSchema[None] = None
    bylaw: BylawName | SkipJsonSchema[None] = None
    value: bool | Count | Annotated[str, Field(min_length=1, max_length=40)] | SkipJsonSchema[None] = Field(
        default=None,
        description="the bylaw's new value: a number, `share_weighted`, `by_vote`, true...",
        json_schema_extra=_left_out,
    )


class Propose(Body):
    kind: ProposableKind
    payload: ProposalPayload
    pin: Pin


class CastVote(Body):
    choice: Literal[1, 2, 3, "yes", "no", "abstain"] = Field(
        description="1 or `yes`, 2 or `no`, 3 or `abstain`, as a member keys it on USSD"
    )
    pin: Pin


class Page(Query):
    limit: int = Field(default=20, ge=1, le=50)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class CoopsQuery(Page):
    region: RegionText | None = None


class ProposalsQuery(Page):
    open: bool = Field(default=False, description="only proposals still open (pending, voting, or to execute)")


class AuditQuery(Query):
    after_seq: int = Field(default=0, ge=0, description="entries after this sequence number (0: from the first)")
    limit: int = Field(default=100, ge=1, le=1000)
