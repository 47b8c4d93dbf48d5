"""What the co-op screens share (not a feature): the co-op being shown, words chosen by number, and fitting.

Catalog texts that vary by a record's kind (a proposal's, a member's, a
co-op's) choose by an integer parameter (``kind_no``, ``state_no``, ...), as
the SMS templates do. A text that shows something people wrote (a co-op's
name, a decision's text) is fitted here, by shortening that value, so the
screen's options and its "0 Back 00 Home" line are never the part cut off.
"""

from __future__ import annotations

from typing import Any

from engine.coops.bylaws import DAY_S, Bylaws, VotingMode
from engine.coops.model import (
    Cooperative,
    CoopState,
    Member,
    MemberState,
    Proposal,
    ProposalKind,
    ProposalState,
    Region,
    Role,
)
from engine.energy.model import ClusterKind
from engine.kernel.local_time import local_text
from engine.kernel.units import format_money
from ussd_server.gsm7 import gsm7_length, to_gsm7
from ussd_server.menu.context import Hop
from ussd_server.menu.reply import TEXT_BUDGET

COOP = "coop"  # session value: the id of the co-op the member is looking at
REGIONS = tuple(Region)  # region_no 1-4 in the catalogs, in this order
TYPES = tuple(ClusterKind)  # type_no 1-4
# The bylaws a member may propose to change on a phone, each typed as money, a percentage or days.
BYLAW_INPUTS = {
    "min_contribution_ngwee": "money",
    "max_contribution_ngwee": "money",
    "quorum_pct": "pct",
    "voting_period_s": "days",
    "exit_notice_days": "days",
}
BYLAWS = tuple(BYLAW_INPUTS)  # bylaw_no 1-5; any other bylaw is named as stored
MIN_KEEP = 12  # a shortened value keeps at least this many characters
# A one-line refusal a screen may show above its text: the catalog key and the parameters that make it
# longest. A PIN screen keeps room for the wrong PIN's (rarer reasons, busy or too many tries, may push
# the navigation line off).
Reason = tuple[str, dict[str, Any]]
WRONG_PIN: Reason = ("err.wrong_pin", {"attempts_left": 2})


def number(value: object, choices: tuple[Any, ...]) -> int:
    """1-based position of ``value`` in ``choices``; 0 when it is not there."""
    return next((i for i, c in enumerate(choices, 1) if str(c) == str(value)), 0)


def when(hop: Hop, at_us: int) -> str:
    return local_text(at_us, hop.platform.config.local_utc_offset_s)


def cut(text: str, size: int) -> str:
    text = to_gsm7(text)
    return text if len(text) <= size else text[: max(size - 2, 1)].rstrip() + ".."


def fitted(
    hop: Hop,
    key: str,
    values: dict[str, Any],
    *,
    shrink: str,
    options: tuple[str, ...] = (),
    nav: bool = True,
    reasons: tuple[Reason, ...] = (),
) -> dict[str, Any]:
    """``values`` with ``shrink`` shortened so ``key``'s text, its option lines and navigation fit one screen,
    with room above them for the longest of ``reasons``: the screen reads the same with a refusal or without.
    """
    rest = [f"{i} {hop.text(label, **values)}" for i, label in enumerate(options, 1)]
    if nav:
        rest.append(hop.text("nav.back_home"))
    reserve = max((gsm7_length(to_gsm7(hop.text(k, **{**values, **p}))) + 1 for k, p in reasons), default=0)
    over = gsm7_length("\n".join([to_gsm7(hop.text(key, **values)), *rest])) + reserve - TEXT_BUDGET
    if over <= 0:
        return values
    text = to_gsm7(str(values.get(shrink, "")))
    return {**values, shrink: cut(text, max(len(text) - over, MIN_KEEP))}


def menu_fitted(hop: Hop, key: str, values: dict[str, Any], *, shrink: str, options: tuple[str, ...]) -> dict[str, Any]:
    """A menu's text fitted with room for "Invalid choice" above it, where enough of the value stays to read."""
    roomy = fitted(hop, key, values, shrink=shrink, options=options, reasons=(("err.invalid_choice", {}),))
    if roomy is values or len(str(roomy.get(shrink, ""))) >= 2 * MIN_KEEP:
        return roomy
    return fitted(hop, key, values, shrink=shrink, options=options)


async def current_coop(hop: Hop) -> Cooperative:
    """The co-op picked in this session, read once per hop."""
    coop_id = str(hop.session.values.get(COOP, ""))
    seen = hop.seen.get(f"coop:{coop_id}")
    if isinstance(seen, Cooperative):
        return seen
    coop = await hop.platform.coops.get(coop_id)
    hop.seen[f"coop:{coop_id}"] = coop
    return coop


async def current_member(hop: Hop, user_id: int) -> Member | None:
    key = f"member:{hop.session.values.get(COOP, '')}:{user_id}"
    if key in hop.seen:
        seen = hop.seen[key]
        return seen if isinstance(seen, Member) else None
    user = await hop.user()
    member = await hop.platform.coops.member(str(hop.session.values.get(COOP, "")), user) if user else None
    hop.seen[key] = member
    return member


# --- words -------------------------------------------------------------------------------------


def days_text(hop: Hop, seconds: int) -> str:
    if seconds % DAY_S:
        return hop.text("coop.hours", hours=-(-seconds // 3600))
    return hop.text("coop.days", days=seconds // DAY_S)


def state_text(hop: Hop, coop: Cooperative) -> str:
    forming = int(coop.state is not CoopState.ACTIVE)
    return hop.text("coop.state", forming=forming, full=coop.full_members, needed=coop.bylaws.min_members)


def member_status(hop: Hop, member: Member | None) -> str:
    if member is None:
        return hop.text("coop.me", status_no=0)
    if member.state is MemberState.FULL and member.role is not Role.MEMBER:
        return hop.text("coop.me", status_no=8 if member.role is Role.CHAIR else 9)
    return hop.text("coop.me", status_no=number(member.state, tuple(MemberState)))


def rules_text(hop: Hop, bylaws: Bylaws) -> str:
    """The bylaws a joiner or founder needs, for one screen."""
    return hop.text(
        "coop.rules",
        weighted=int(bylaws.voting_mode is VotingMode.SHARE_WEIGHTED),
        par=bylaws.par_value_ngwee,
        least=bylaws.min_contribution_ngwee,
        most=bylaws.max_contribution_ngwee,
        deadline=days_text(hop, bylaws.contribution_deadline_days * DAY_S),
        quorum=bylaws.quorum_pct,
        voting=days_text(hop, bylaws.voting_period_s),
        notice=days_text(hop, bylaws.exit_notice_days * DAY_S),
    )


def bylaw_value(hop: Hop, name: str, value: object) -> str:
    """A bylaw's value as a member reads it: money, a percentage, days."""
    if name.endswith("_ngwee"):
        return format_money(int(str(value)))
    if name.endswith("_pct"):
        return f"{value}%"
    if name.endswith("_days"):
        return days_text(hop, int(str(value)) * DAY_S)
    if name.endswith("_s"):
        return days_text(hop, int(str(value)))
    return str(value)


def bylaw_words(hop: Hop, name: str, value: object) -> dict[str, str]:
    return {
        "bylaw": hop.text("coop.bylaw_name", bylaw_no=number(name, BYLAWS), name=name),
        "value": bylaw_value(hop, name, value),
    }


def describe(hop: Hop, kind: ProposalKind, payload: dict[str, str | int]) -> str:
    """One line saying what a proposal would do, whatever its kind."""
    values: dict[str, Any] = {
        "kind_no": kind.number,
        "quantity": payload.get("quantity", ""),
        "item": payload.get("name", ""),
        "ngwee": int(payload.get("amount_ngwee", 0) or 0),
        "phone": payload.get("phone", ""),
        "text": payload.get("text", ""),
        "price": int(payload.get("price_ngwee_per_kwh", 0) or 0),
    }
    if kind is ProposalKind.CHANGE_BYLAW:
        values.update(bylaw_words(hop, str(payload.get("bylaw", "")), payload.get("value", "")))
    if kind is ProposalKind.ELECT_ROLE:
        values["role"] = hop.text("coop.role_name", role_no=number(payload.get("role", ""), tuple(Role)))
    return to_gsm7(hop.text("coop.what", **values))


def voting_open(proposal: Proposal, now_us: int) -> bool:
    voting = proposal.state in (ProposalState.PENDING, ProposalState.ACTIVE)
    return voting and proposal.vote_start_us <= now_us < proposal.vote_end_us


def status_text(hop: Hop, proposal: Proposal, now_us: int) -> str:
    """Where a proposal stands: voting until, opens at, passed, done..."""
    state = proposal.state
    if voting_open(proposal, now_us):
        state_no = 2
    elif state in (ProposalState.PENDING, ProposalState.ACTIVE) and now_us >= proposal.vote_end_us:
        state_no = 10  # closed, waiting for the scheduler to count
    elif state is ProposalState.QUEUED and proposal.failure:
        state_no = 9
    else:
        state_no = number(state, tuple(ProposalState))
    return hop.text(
        "coop.status",
        state_no=state_no,
        opens=when(hop, proposal.vote_start_us),
        closes=when(hop, proposal.vote_end_us),
        executes=when(hop, proposal.eta_us),
    )


def choice_word(hop: Hop, choice: object) -> str:
    return hop.text("coop.choice", choice=int(str(choice or 0)))
