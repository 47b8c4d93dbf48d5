"""A co-op's proposals and voting (menus/features/coop_proposals.yaml).

The list shows open proposals first, then the latest closed ones. A proposal's
screen says what it would do, where it stands, the tally (unless the bylaws
hide it until the close) and the member's own vote; while voting is open it
offers 1 Yes, 2 No, 3 Abstain, and the PIN screen after it counts the vote.
"""

from __future__ import annotations

from typing import Any

from engine.coops.model import MemberState, Proposal
from engine.kernel.errors import EnerlectraError
from ussd_server.menu.context import Hop
from ussd_server.menu.features.coop_text import (
    COOP,
    choice_word,
    current_member,
    cut,
    describe,
    fitted,
    menu_fitted,
    status_text,
    voting_open,
    when,
)
from ussd_server.menu.features.gates import failure, need_user, verified
from ussd_server.menu.registry import Feature, Item, Outcome

PROPOSAL = "proposal"  # session value: the proposal picked
CHOICE = "choice"  # session value: 1 Yes, 2 No, 3 Abstain
VOTE_OPTIONS = ("coop.yes", "coop.no", "coop.abstain")  # coop.proposal's options, in order
OPEN_SHOWN = 50  # open proposals listed (each member may have only a few open)
CLOSED_SHOWN = 10  # the latest closed ones after them
ITEM_WHAT = 24  # characters of a proposal's description in the list


async def coop_proposals(hop: Hop) -> list[Item]:
    coop_id = str(hop.session.values.get(COOP, ""))
    governance = hop.platform.governance
    open_now = await governance.proposals(coop_id, open_only=True, limit=OPEN_SHOWN)
    latest = await governance.proposals(coop_id, limit=CLOSED_SHOWN + len(open_now))
    shown = {p.id for p in open_now}
    closed = [p for p in latest if p.id not in shown][:CLOSED_SHOWN]
    return [
        Item(p.id, {"number": p.number, "what": cut(describe(hop, p.kind, p.payload), ITEM_WHAT)})
        for p in [*open_now, *closed]
    ]


async def _proposal(hop: Hop) -> Proposal:
    proposal_id = str(hop.session.values.get(PROPOSAL, ""))
    seen = hop.seen.get(f"proposal:{proposal_id}")
    if isinstance(seen, Proposal):
        return seen
    proposal = await hop.platform.governance.get(proposal_id)
    hop.seen[f"proposal:{proposal_id}"] = proposal
    return proposal


async def _can_vote(hop: Hop, proposal: Proposal) -> bool:
    """Voting is open and the member is a full one (a member who became full later is refused by the engine)."""
    if not voting_open(proposal, hop.platform.clock.now_us()):
        return False
    member = await current_member(hop, (await need_user(hop)).id)
    return member is not None and member.state is MemberState.FULL


async def proposal_route(hop: Hop) -> Outcome:
    """The proposal with the choices while this member can vote on it, else the same screen to read."""
    try:
        proposal = await _proposal(hop)
    except EnerlectraError as exc:
        return failure(exc)
    return Outcome() if await _can_vote(hop, proposal) else Outcome(route="closed")


def _tally(hop: Hop, proposal: Proposal) -> str:
    tally = hop.platform.governance.visible_tally(proposal)
    if tally is None:
        return hop.text("coop.tally", hidden=1)
    return hop.text("coop.tally", hidden=0, yes=tally.yes, no=tally.no, abstain=tally.abstain)


async def proposal_view(hop: Hop) -> Outcome:
    user = await need_user(hop)
    proposal = await _proposal(hop)
    mine = await hop.platform.governance.my_vote(proposal.id, user)
    now = hop.platform.clock.now_us()
    values: dict[str, Any] = {
        "number": proposal.number,
        "what": describe(hop, proposal.kind, proposal.payload),
        "status": status_text(hop, proposal, now),
        "tally": _tally(hop, proposal),
        "mine": hop.text("coop.mine", choice=int(mine.choice) if mine else 0),
    }
    if await _can_vote(hop, proposal):
        values = menu_fitted(hop, "coop.proposal", values, shrink="what", options=VOTE_OPTIONS)
    else:
        values = fitted(hop, "coop.proposal", values, shrink="what", reasons=(("err.voting_closed", {}),))
    return Outcome(values=values, keep=False)


async def vote_view(hop: Hop) -> Outcome:
    proposal = await _proposal(hop)
    values = {"number": proposal.number, "choice_word": choice_word(hop, hop.session.values.get(CHOICE))}
    return Outcome(values=values, keep=False)


async def cast_vote(hop: Hop) -> Outcome:
    """Count the vote (the PIN typed this hop); a second vote replaces the first until the close."""
    checked = await verified(hop)
    if isinstance(checked, Outcome):
        return checked
    choice = str(hop.session.values.get(CHOICE, ""))
    try:
        receipt = await hop.platform.governance.vote(
            checked.proof, checked.user, str(hop.session.values.get(PROPOSAL, "")), choice
        )
    except EnerlectraError as exc:
        return failure(exc)
    hop.session.back.clear()
    proposal = receipt.proposal
    values = {
        "changed": int(receipt.changed),
        "choice_word": choice_word(hop, int(receipt.vote.choice)),
        "number": proposal.number,
        "tally": _tally(hop, proposal),
        "closes": when(hop, proposal.vote_end_us),
    }
    return Outcome(values=values, keep=False)


FEATURE = Feature(
    name="coop_votes",
    actions={
        "proposal_route": proposal_route,
        "proposal_view": proposal_view,
        "vote_view": vote_view,
        "cast_vote": cast_vote,
    },
    sources={"coop_proposals": coop_proposals},
)
