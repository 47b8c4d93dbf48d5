"""My co-op (menus/features/coop.yaml): which co-op, its menu and summary, paying in, members, leaving.

A member of one co-op goes straight to its menu, a member of several picks
one first (the pick is the session value ``coop``), and someone in none is
offered to join or form one (coop_join.py). Paying in and leaving take the
PIN on the hop that makes them; paying in is checked against the bylaws and
the wallet before the PIN, and every refusal goes back to the amount with a
one-line reason. What no retyping can change is said at the start.
"""

from __future__ import annotations

from typing import Any

from engine.coops.bylaws import DAY_S
from engine.coops.model import Cooperative, CoopState, Member, MemberState, Role
from engine.kernel.clock import MICROS_PER_SECOND
from engine.kernel.errors import EnerlectraError, OutflowHeld
from ussd_server.menu.context import Hop
from ussd_server.menu.features.coop_text import (
    COOP,
    WRONG_PIN,
    Reason,
    current_coop,
    current_member,
    cut,
    fitted,
    member_status,
    menu_fitted,
    state_text,
    when,
)
from ussd_server.menu.features.gates import failure, need_user, verified
from ussd_server.menu.registry import Feature, Item, Outcome

AMOUNT = "pay_ngwee"  # session value: the contribution typed, in ngwee
STEP = "coop_step"  # session value: what the member chose on the co-op menu (propose, contribute, leave)
# coop.menu's options, in order: its text is fitted with them (menus/features/coop.yaml).
MENU_OPTIONS = (
    "coop.opt_summary",
    "coop.opt_proposals",
    "coop.opt_propose",
    "coop.opt_contribute",
    "coop.opt_members",
    "coop.opt_leave",
    "coop.opt_other",
)
MEMBER_ROWS = 8  # members read per page shown (a page holds fewer): a long register is read a page at a time
# Why a step cannot be taken now (coop.why's why_no)
APPLIED, LEAVING, NOT_FULL, FORMING, TOO_MANY, PAID_UP, NOT_MEMBER = 1, 2, 3, 4, 5, 6, 7


# --- which co-op -------------------------------------------------------------------------------


async def my_coops(hop: Hop) -> Outcome:
    """Straight to the co-op of a member of one; a member of several picks; someone in none joins or forms."""
    found = await hop.platform.coops.memberships(await need_user(hop))
    if not found:
        return Outcome(route="none")
    if len(found) > 1:
        return Outcome(route="several")
    hop.session.values[COOP] = found[0][0].id
    return Outcome()


async def my_coop_list(hop: Hop) -> list[Item]:
    found = await hop.platform.coops.memberships(await need_user(hop))
    return [Item(coop.id, {"name": cut(coop.name, 40)}) for coop, _ in found]


async def coop_title(hop: Hop) -> Outcome:
    coop = await current_coop(hop)
    values = menu_fitted(hop, "coop.menu", {"coop_name": coop.name}, shrink="coop_name", options=MENU_OPTIONS)
    return Outcome(values=values, keep=False)


async def coop_summary(hop: Hop) -> Outcome:
    user = await need_user(hop)
    summary = await hop.platform.coops.summary(str(hop.session.values.get(COOP, "")), user)
    me = summary.me
    values = {
        "state": state_text(hop, summary.coop),
        "members": summary.members,
        "open": summary.open_proposals,
        "treasury": summary.treasury_ngwee,
        "wh": summary.energy_available_wh,
        "me": member_status(hop, me),
        "shares": me.shares if me else 0,
        "credit": me.credit_ngwee if me else 0,
    }
    return Outcome(values=values, keep=False)


# --- what cannot be done now ---------------------------------------------------------------------


async def _my_open_proposals(hop: Hop, coop: Cooperative, user_id: int) -> int:
    open_now = await hop.platform.governance.proposals(coop.id, open_only=True, limit=1000)
    return sum(1 for p in open_now if p.proposer_id == user_id)


async def _reason(hop: Hop) -> tuple[int, dict[str, Any]]:
    """Why the step chosen on the co-op menu cannot be taken now (0: it can), with the values that say so."""
    cached = hop.seen.get("coop:why")
    if isinstance(cached, tuple):
        return cached
    user = await need_user(hop)
    coop = await current_coop(hop)
    member = await current_member(hop, user.id)
    reason = _why(hop, coop, member)
    step = str(hop.session.values.get(STEP, ""))
    if reason[0] == 0 and step == "propose" and member is not None:
        most = hop.platform.governance.config.max_open_proposals_per_member
        if await _my_open_proposals(hop, coop, user.id) >= most:
            reason = (TOO_MANY, {"max": most})
    hop.seen["coop:why"] = reason
    return reason


def _why(hop: Hop, coop: Cooperative, member: Member | None) -> tuple[int, dict[str, Any]]:
    step = str(hop.session.values.get(STEP, ""))
    state = member.state if member else None
    if member is None or state not in (MemberState.APPLIED, MemberState.ADMITTED, MemberState.FULL):
        if member is not None and state is MemberState.LEAVING:
            return LEAVING, {"ngwee": member.holding_ngwee, "date": when(hop, member.exit_at_us)}
        return NOT_MEMBER, {}
    if state is MemberState.APPLIED and step != "leave":
        return APPLIED, {}
    rules = coop.bylaws
    if step == "propose":
        if coop.state is not CoopState.ACTIVE:
            values = {"coop_name": cut(coop.name, 30), "full": coop.full_members, "needed": rules.min_members}
            return FORMING, values
        if state is not MemberState.FULL:
            return NOT_FULL, {"least": rules.min_contribution_ngwee - member.holding_ngwee}
    if step == "contribute" and member.holding_ngwee >= rules.max_contribution_ngwee:
        return PAID_UP, {"most": rules.max_contribution_ngwee}
    return 0, {}


async def coop_blocked(hop: Hop) -> bool:
    return (await _reason(hop))[0] != 0


async def coop_why(hop: Hop) -> Outcome:
    why_no, values = await _reason(hop)
    return Outcome(values={"why_no": why_no, **values}, keep=False)


# --- members ---------------------------------------------------------------------------------------


def _tag(member: Member) -> int:
    if member.state is MemberState.LEAVING:
        return 4
    return {Role.CHAIR: 2, Role.TREASURER: 3}.get(member.role, 0)


async def coop_members(hop: Hop) -> list[Item]:
    """Current members, most shares first: only as many as the pages up to this one show (and one more)."""
    coop_id = str(hop.session.values.get(COOP, ""))
    rows = await hop.platform.coops.members(coop_id, limit=(hop.session.page + 1) * MEMBER_ROWS + 1)
    items = []
    for member in rows:
        person = await hop.platform.users.find(member.phone)
        role = hop.text("coop.member_tag", tag_no=_tag(member))
        name = cut(person.short_name, 16) if person else ""
        items.append(
            Item(str(member.user_id), {"phone": member.phone, "name": name, "shares": member.shares, "tag": role})
        )
    return items


# --- paying in ---------------------------------------------------------------------------------


def _range(coop: Cooperative, member: Member | None) -> tuple[int, int]:
    """The least and the most the bylaws let this member pay in now."""
    holding = member.holding_ngwee if member else 0
    rules = coop.bylaws
    return max(rules.min_contribution_ngwee - holding, 1), max(rules.max_contribution_ngwee - holding, 0)


async def _terms(hop: Hop) -> tuple[Cooperative, Member | None, int, int]:
    user = await need_user(hop)
    coop = await current_coop(hop)
    member = await current_member(hop, user.id)
    least, most = _range(coop, member)
    return coop, member, least, most


async def contribution_terms(hop: Hop) -> Outcome:
    coop, member, least, most = await _terms(hop)
    paid = member.holding_ngwee if member else 0
    have = (await hop.platform.wallet.balances(await need_user(hop))).ngwee
    values = {"coop_name": coop.name, "paid": paid, "least": least, "most": most}
    refusals: tuple[Reason, ...] = (
        ("err.contribution_out_of_range", {"most_ngwee": most, "least_ngwee": least}),
        ("err.insufficient_funds", {"ngwee": have}),
    )
    return Outcome(values=fitted(hop, "coop.contribute", values, shrink="coop_name", reasons=refusals), keep=False)


async def contribution_confirm(hop: Hop) -> Outcome:
    coop = await current_coop(hop)
    values = {"coop_name": coop.name, AMOUNT: int(hop.session.values.get(AMOUNT, 0))}
    return Outcome(
        values=fitted(hop, "coop.contribute_confirm", values, shrink="coop_name", reasons=(WRONG_PIN,)), keep=False
    )


async def quote_contribution(hop: Hop) -> Outcome:
    """Before the PIN: an amount the bylaws allow now, and money enough in the wallet."""
    _, _, least, most = await _terms(hop)
    amount = int(hop.session.values.get(AMOUNT, 0))
    if not least <= amount <= most:
        return Outcome(route="contribution_out_of_range", values={"most_ngwee": most, "least_ngwee": least}, keep=False)
    have = (await hop.platform.wallet.balances(await need_user(hop))).ngwee
    if have < amount:
        return Outcome(route="insufficient_funds", values={"ngwee": have}, keep=False)
    values = hop.session.values
    values["attempt"] = int(values.get("attempt", 0)) + 1  # a new confirmation: a new operation id
    return Outcome()


async def contribute(hop: Hop) -> Outcome:
    """Pay the amount from the wallet into the treasury (the PIN typed this hop); whole shares at par."""
    checked = await verified(hop)
    if isinstance(checked, Outcome):
        return checked
    user, amount = checked.user, int(hop.session.values.get(AMOUNT, 0))
    coop_id = str(hop.session.values.get(COOP, ""))
    try:
        receipt = await hop.platform.coops.contribute(
            checked.proof, user, coop_id, amount, operation_id=hop.operation_id("coop-contribute")
        )
    except OutflowHeld as exc:
        return Outcome(route=exc.code, keep=False)
    except EnerlectraError as exc:
        balance = await hop.platform.wallet.balances(user)
        return failure(exc, ngwee=balance.ngwee)
    hop.sms_queued = True
    hop.session.back.clear()
    member, rules = receipt.member, receipt.coop.bylaws
    became_full = member.state is MemberState.FULL and member.holding_ngwee - amount < rules.min_contribution_ngwee
    values = {
        "coop_name": receipt.coop.name,
        "ngwee": receipt.amount_ngwee,
        "shares": member.shares,
        "credit": member.credit_ngwee,
        "ref": receipt.reference,
        "full": int(became_full),
    }
    return Outcome(values=fitted(hop, "coop.contributed", values, shrink="coop_name", nav=False), keep=False)


# --- leaving -----------------------------------------------------------------------------------


async def leave_terms(hop: Hop) -> Outcome:
    """What comes back, and when: the stake at par once the bylaws' notice ends."""
    user = await need_user(hop)
    coop = await current_coop(hop)
    member = await current_member(hop, user.id)
    exit_at = hop.platform.clock.now_us() + coop.bylaws.exit_notice_days * DAY_S * MICROS_PER_SECOND
    values = {"coop_name": coop.name, "ngwee": member.holding_ngwee if member else 0, "date": when(hop, exit_at)}
    return Outcome(values=fitted(hop, "coop.leave", values, shrink="coop_name", reasons=(WRONG_PIN,)), keep=False)


async def leave_coop(hop: Hop) -> Outcome:
    checked = await verified(hop)
    if isinstance(checked, Outcome):
        return checked
    coop = await current_coop(hop)
    try:
        member = await hop.platform.coops.leave(checked.proof, checked.user, coop.id)
    except EnerlectraError as exc:
        return failure(exc)
    hop.sms_queued = True
    hop.session.back.clear()
    values = {"coop_name": coop.name, "ngwee": member.holding_ngwee, "date": when(hop, member.exit_at_us)}
    return Outcome(values=fitted(hop, "coop.left", values, shrink="coop_name", nav=False), keep=False)


FEATURE = Feature(
    name="coop",
    actions={
        "my_coops": my_coops,
        "coop_title": coop_title,
        "coop_summary": coop_summary,
        "coop_why": coop_why,
        "contribution_terms": contribution_terms,
        "contribution_confirm": contribution_confirm,
        "quote_contribution": quote_contribution,
        "contribute": contribute,
        "leave_terms": leave_terms,
        "leave_coop": leave_coop,
    },
    conditions={"coop_blocked": coop_blocked},
    sources={"my_coop_list": my_coop_list, "coop_members": coop_members},
)
