"""Joining or forming a co-op (menus/features/coop_join.yaml).

Joining: a region, a co-op from a paged list, its bylaws on one screen, then
Join (no PIN: nothing moves until the member pays in). Where the bylaws admit
by vote and the co-op is active, joining is an application its members vote
on. Forming: a name, a type, a region, the default bylaws of that type on one
screen, then the PIN; the founder is the co-op's first member.
"""

from __future__ import annotations

from engine.coops.bylaws import DAY_S, default_bylaws
from engine.coops.model import Cooperative, MemberState
from engine.kernel.errors import EnerlectraError
from ussd_server.menu.context import Hop
from ussd_server.menu.features.coop_text import (
    COOP,
    REGIONS,
    TYPES,
    WRONG_PIN,
    cut,
    days_text,
    fitted,
    menu_fitted,
    number,
    rules_text,
)
from ussd_server.menu.features.gates import failure, need_user, verified
from ussd_server.menu.registry import Feature, Invalid, Item, Outcome, Value
from ussd_server.menu.schema import Validator

PICK = "coop_pick"  # session value: the co-op picked to join
REGION = "coop_region"
TYPE = "coop_type"
NAME = "coop_new_name"
LIST_ROWS = 8  # co-ops read per page shown: a region with many is read a page at a time
NAME_MIN = 3


async def coop_none_view(hop: Hop) -> Outcome:
    """Someone in a co-op already reads "join or form another" instead of "you are in none"."""
    found = await hop.platform.coops.memberships(await need_user(hop))
    return Outcome(values={"elsewhere": int(bool(found))}, keep=False)


def _region_name(hop: Hop) -> str:
    return hop.text("coop.region", region_no=number(hop.session.values.get(REGION, ""), REGIONS))


async def region_view(hop: Hop) -> Outcome:
    return Outcome(values={"region_name": _region_name(hop)}, keep=False)


async def coops_in_region(hop: Hop) -> list[Item]:
    """Co-ops of the region by name: only as many as the pages up to this one show (and one more)."""
    region = str(hop.session.values.get(REGION, ""))
    found = await hop.platform.coops.find(region=region, limit=(hop.session.page + 1) * LIST_ROWS + 1)
    return [Item(c.id, {"name": cut(c.name, 28), "members": c.full_members}) for c in found]


async def _picked(hop: Hop) -> Cooperative:
    coop_id = str(hop.session.values.get(PICK, ""))
    seen = hop.seen.get(f"coop:{coop_id}")
    if isinstance(seen, Cooperative):
        return seen
    coop = await hop.platform.coops.get(coop_id)
    hop.seen[f"coop:{coop_id}"] = coop
    return coop


async def join_view(hop: Hop) -> Outcome:
    coop = await _picked(hop)
    values = {"coop_name": coop.name, "rules": rules_text(hop, coop.bylaws)}
    options = ("coop.opt_join_this",)
    return Outcome(values=menu_fitted(hop, "coop.join_view", values, shrink="coop_name", options=options), keep=False)


async def join_coop(hop: Hop) -> Outcome:
    user = await need_user(hop)
    try:
        coop = await _picked(hop)
        member = await hop.platform.coops.join(user, coop.id)
    except EnerlectraError as exc:
        return failure(exc)
    hop.session.values[COOP] = coop.id
    hop.session.back.clear()
    rules = coop.bylaws
    values = {
        "coop_name": coop.name,
        "applied": int(member.state is MemberState.APPLIED),
        "least": rules.min_contribution_ngwee,
        "most": rules.max_contribution_ngwee,
        "deadline": days_text(hop, rules.contribution_deadline_days * DAY_S),
    }
    return Outcome(values=fitted(hop, "coop.joined", values, shrink="coop_name", nav=False), keep=False)


# --- forming -----------------------------------------------------------------------------------


async def coop_name(raw: str, spec: Validator, hop: Hop) -> Value:
    """A co-op's name: 3 letters or more, up to the screen's ``max_length``."""
    clean = " ".join(raw.split())
    if not NAME_MIN <= len(clean) <= (spec.max_length or 40):
        raise Invalid("err.coop_name", max=spec.max_length or 40)
    return clean


def _draft(hop: Hop) -> dict[str, object]:
    values = hop.session.values
    kind = str(values.get(TYPE, ""))
    return {
        "coop_name": str(values.get(NAME, "")),
        "type": hop.text("coop.type", type_no=number(kind, TYPES)),
        "region_name": _region_name(hop),
        "needed": default_bylaws(kind).min_members,
    }


async def form_rules(hop: Hop) -> Outcome:
    """The default bylaws of the type chosen, on one screen, to agree to."""
    values = {**_draft(hop), "rules": rules_text(hop, default_bylaws(str(hop.session.values.get(TYPE, ""))))}
    options = ("coop.opt_agree",)
    return Outcome(values=menu_fitted(hop, "coop.form_rules", values, shrink="coop_name", options=options), keep=False)


async def form_view(hop: Hop) -> Outcome:
    values = fitted(hop, "coop.form_confirm", _draft(hop), shrink="coop_name", reasons=(WRONG_PIN,))
    return Outcome(values=values, keep=False)


async def form_coop(hop: Hop) -> Outcome:
    checked = await verified(hop)
    if isinstance(checked, Outcome):
        return checked
    values = hop.session.values
    try:
        coop = await hop.platform.coops.form(
            checked.proof,
            checked.user,
            name=str(values.get(NAME, "")),
            kind=str(values.get(TYPE, "")),
            region=str(values.get(REGION, "")),
        )
    except EnerlectraError as exc:
        return failure(exc)
    values[COOP] = coop.id
    hop.session.back.clear()
    shown = {"coop_name": coop.name, "needed": coop.bylaws.min_members}
    return Outcome(values=fitted(hop, "coop.formed", shown, shrink="coop_name", nav=False), keep=False)


FEATURE = Feature(
    name="coop_join",
    actions={
        "coop_none_view": coop_none_view,
        "region_view": region_view,
        "join_view": join_view,
        "join_coop": join_coop,
        "form_rules": form_rules,
        "form_view": form_view,
        "form_coop": form_coop,
    },
    sources={"coops_in_region": coops_in_region},
    validators={"coop_name": coop_name},
)
