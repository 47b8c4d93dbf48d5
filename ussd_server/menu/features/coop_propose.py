"""Proposing by template (menus/features/coop_propose.yaml): nobody types a paragraph on a keypad.

Each template asks for the few values its kind needs (session values named
``p*``), checks them before the PIN as the engine would (a payee who is not
registered, a number that is not a full member, a bylaw value out of range),
and the PIN screen says in one line what members will vote on.
"""

from __future__ import annotations

from typing import Any

from engine.coops.bylaws import DAY_S
from engine.coops.model import MemberState, ProposalKind
from engine.kernel.errors import (
    DailyLimitReached,
    EnerlectraError,
    InvalidBylaws,
    InvalidProposal,
    NotAMember,
    UserNotFound,
)
from ussd_server.menu.context import CAPPED, Hop
from ussd_server.menu.features.coop_text import (
    BYLAW_INPUTS,
    COOP,
    WRONG_PIN,
    bylaw_words,
    current_coop,
    cut,
    describe,
    fitted,
    when,
)
from ussd_server.menu.features.gates import failure, need_user, verified
from ussd_server.menu.registry import Feature, Invalid, Item, Outcome, Value
from ussd_server.menu.schema import Validator

KIND, TEXT, PHONE, NGWEE, PRICE, ROLE = "pkind", "ptext", "pphone", "pngwee", "pprice", "prole"
BYLAW, VALUE, SUPPLIER, ITEM, QUANTITY, PAYEE_NAME = "bylaw", "pvalue", "supplier", "item", "pqty", "pname"
TEXT_MIN = 3
MAX_QUANTITY = 1000
SUPPLIERS_SCANNED = 500  # co-ops read to find the supply co-ops among them
# An engine refusal of a field -> the outcome that goes back to the screen where it was typed.
FIELD_ROUTES = {"amount_ngwee": "bad_amount", "price_ngwee_per_kwh": "bad_price", "quantity": "bad_quantity"}


# --- typed values ------------------------------------------------------------------------------


async def proposal_text(raw: str, spec: Validator, hop: Hop) -> Value:
    """A short text members will read: 3 characters or more, up to the screen's ``max_length``."""
    clean = " ".join(raw.split())
    limit = spec.max_length or 120
    if not TEXT_MIN <= len(clean) <= limit:
        raise Invalid("err.proposal_text", min=TEXT_MIN, max=limit)
    return clean


async def quantity(raw: str, spec: Validator, hop: Hop) -> Value:
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_QUANTITY:
        raise Invalid("err.quantity", max=MAX_QUANTITY)
    return int(raw)


# --- maintenance: the payee ----------------------------------------------------------------------


async def check_payee(hop: Hop) -> Outcome:
    """A registered number (a lookup, counted toward the daily cap); a member may be paid for their own work."""
    user = await need_user(hop)
    phone = str(hop.session.values.get(PHONE, ""))
    if phone == user.phone:
        return Outcome(values={PAYEE_NAME: user.short_name})
    try:
        other = await hop.platform.users.look_up(user, phone)
    except DailyLimitReached as exc:
        return Outcome(route="daily_limit", values={CAPPED: str(exc.params["kind"])})
    except EnerlectraError as exc:
        return failure(exc, counterpart=phone)
    return Outcome(values={PAYEE_NAME: other.short_name})


async def payee_view(hop: Hop) -> Outcome:
    values = hop.session.values
    return Outcome(values={"name": values.get(PAYEE_NAME, ""), "phone": values.get(PHONE, "")}, keep=False)


# --- energy price, roles, bylaws -------------------------------------------------------------------


async def price_view(hop: Hop) -> Outcome:
    view = await hop.platform.clusters.get(str(hop.session.values.get(COOP, "")))
    return Outcome(values={"now": view.cluster.price_ngwee_per_kwh}, keep=False)


async def role_view(hop: Hop) -> Outcome:
    role_no = {"chair": 2, "treasurer": 3}.get(str(hop.session.values.get(ROLE, "")), 0)
    return Outcome(values={"role": hop.text("coop.role_name", role_no=role_no)}, keep=False)


async def check_member(hop: Hop) -> Outcome:
    """The number of a full member of this co-op (the same answer for a number not registered at all)."""
    person = await hop.platform.users.find(str(hop.session.values.get(PHONE, "")))
    member = await hop.platform.coops.member(str(hop.session.values.get(COOP, "")), person) if person else None
    if member is None or member.state is not MemberState.FULL:
        return Outcome(route="not_a_member", keep=False)
    return Outcome()


def _bylaw_input(hop: Hop) -> str:
    return BYLAW_INPUTS.get(str(hop.session.values.get(BYLAW, "")), "money")


def _bylaw_value(name: str, typed: object) -> int:
    """What was typed as the bylaw stores it: voting days become seconds."""
    value = int(str(typed or 0))
    return value * DAY_S if name.endswith("_s") else value


async def bylaw_view(hop: Hop) -> Outcome:
    coop = await current_coop(hop)
    name = str(hop.session.values.get(BYLAW, ""))
    words = bylaw_words(hop, name, coop.bylaws.to_dict().get(name, 0))
    return Outcome(values={"bylaw": words["bylaw"], "now": words["value"]}, keep=False)


async def check_bylaw(hop: Hop) -> Outcome:
    """The new value would make bylaws that make sense (the engine's own check, before the PIN)."""
    coop = await current_coop(hop)
    name = str(hop.session.values.get(BYLAW, ""))
    try:
        coop.bylaws.changed({name: _bylaw_value(name, hop.session.values.get(VALUE))})
    except InvalidBylaws:
        return Outcome(route=f"bad_{_bylaw_input(hop)}", keep=False)
    return Outcome()


# --- equipment from a supply co-op ---------------------------------------------------------------


async def suppliers(hop: Hop) -> list[Item]:
    own = str(hop.session.values.get(COOP, ""))
    found = await hop.platform.coops.find(limit=SUPPLIERS_SCANNED)
    return [Item(c.id, {"name": cut(c.name, 30)}) for c in found if c.kind == "supply" and c.id != own]


async def catalog_items(hop: Hop) -> list[Item]:
    items = await hop.platform.coops.catalog(str(hop.session.values.get(SUPPLIER, "")))
    return [Item(i.item_id, {"name": cut(i.name, 24), "price": i.price_ngwee}) for i in items]


async def item_view(hop: Hop) -> Outcome:
    values = hop.session.values
    items = await hop.platform.coops.catalog(str(values.get(SUPPLIER, "")))
    item = next((i for i in items if i.item_id == str(values.get(ITEM, ""))), None)
    return Outcome(
        values={"item_name": item.name if item else "", "price": item.price_ngwee if item else 0}, keep=False
    )


# --- the draft, the PIN, the proposal ---------------------------------------------------------------


def _payload(values: dict[str, Any]) -> tuple[ProposalKind, dict[str, Any]]:
    """The kind and payload the engine takes, from what the template asked for."""
    kind = ProposalKind(str(values.get(KIND, "")))
    if kind is ProposalKind.DECISION:
        return kind, {"text": values.get(TEXT, "")}
    if kind is ProposalKind.MAINTENANCE:
        return kind, {
            "phone": values.get(PHONE, ""),
            "amount_ngwee": values.get(NGWEE, 0),
            "text": values.get(TEXT, ""),
        }
    if kind is ProposalKind.SET_PRICE:
        return kind, {"price_ngwee_per_kwh": values.get(PRICE, 0)}
    if kind is ProposalKind.ELECT_ROLE:
        return kind, {"phone": values.get(PHONE, ""), "role": values.get(ROLE, "")}
    if kind is ProposalKind.REMOVE_MEMBER:
        return kind, {"phone": values.get(PHONE, "")}
    if kind is ProposalKind.CHANGE_BYLAW:
        name = str(values.get(BYLAW, ""))
        return kind, {"bylaw": name, "value": _bylaw_value(name, values.get(VALUE))}
    quantity = int(values.get(QUANTITY, 0) or 0)
    return kind, {"supplier": values.get(SUPPLIER, ""), "item": values.get(ITEM, ""), "quantity": quantity}


async def _described(hop: Hop, kind: ProposalKind, payload: dict[str, Any]) -> str:
    if kind is ProposalKind.BUY_EQUIPMENT:  # what it costs comes from the supplier's catalog
        items = await hop.platform.coops.catalog(str(payload["supplier"]))
        item = next((i for i in items if i.item_id == str(payload["item"])), None)
        price = item.price_ngwee if item else 0
        payload = {**payload, "name": item.name if item else "", "amount_ngwee": price * int(payload["quantity"])}
    return describe(hop, kind, payload)


async def draft_view(hop: Hop) -> Outcome:
    kind, payload = _payload(hop.session.values)
    values = {"what": await _described(hop, kind, payload)}
    return Outcome(values=fitted(hop, "coop.p_confirm", values, shrink="what", reasons=(WRONG_PIN,)), keep=False)


def _refused(exc: EnerlectraError, kind: ProposalKind) -> Outcome:
    """The screen where the refused value was typed, or the one that says why proposing is not possible."""
    if isinstance(exc, InvalidProposal):
        field = str(exc.params.get("field", ""))
        if field == "text":
            return Outcome(route="bad_text" if kind is ProposalKind.DECISION else "bad_what", keep=False)
        return Outcome(route=FIELD_ROUTES.get(field, exc.code), keep=False)
    if isinstance(exc, InvalidBylaws):
        name = str(exc.params.get("bylaw", ""))
        return Outcome(route=f"bad_{BYLAW_INPUTS.get(name, 'money')}", keep=False)
    if isinstance(exc, NotAMember) and not exc.params.get("needs"):
        return Outcome(route="not_full_member", keep=False)  # the number typed, not the proposer
    if isinstance(exc, UserNotFound):
        return Outcome(route=exc.code, keep=False)
    return failure(exc)


async def submit_proposal(hop: Hop) -> Outcome:
    checked = await verified(hop)
    if isinstance(checked, Outcome):
        return checked
    kind, payload = _payload(hop.session.values)
    coop_id = str(hop.session.values.get(COOP, ""))
    try:
        proposal = await hop.platform.governance.propose(checked.proof, checked.user, coop_id, kind, payload)
    except EnerlectraError as exc:
        return _refused(exc, kind)
    hop.session.back.clear()
    values = {
        "number": proposal.number,
        "what": describe(hop, proposal.kind, proposal.payload),
        "opens": when(hop, proposal.vote_start_us),
        "closes": when(hop, proposal.vote_end_us),
    }
    return Outcome(values=fitted(hop, "coop.p_done", values, shrink="what", nav=False), keep=False)


FEATURE = Feature(
    name="coop_propose",
    actions={
        "check_payee": check_payee,
        "payee_view": payee_view,
        "price_view": price_view,
        "role_view": role_view,
        "check_member": check_member,
        "bylaw_view": bylaw_view,
        "check_bylaw": check_bylaw,
        "item_view": item_view,
        "draft_view": draft_view,
        "submit_proposal": submit_proposal,
    },
    sources={"suppliers": suppliers, "catalog_items": catalog_items},
    validators={"proposal_text": proposal_text, "quantity": quantity},
)
