"""What each kind of proposal needs to say, and what executing it does.

:func:`checked_payload` runs when a proposal is made, so members vote on
something that can be carried out; :func:`execute` runs in the transaction
that marks the proposal executed, so what it moves and the mark commit
together (or, if the treasury is short, neither does).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from engine.coops.config import CoopConfig
from engine.coops.membership import remove_member
from engine.coops.model import Asset, MemberState, Proposal, ProposalKind, Role
from engine.coops.ports import CoopUnit
from engine.coops.trail import AuditTrail
from engine.energy.model import ClusterKind
from engine.kernel.errors import (
    CatalogItemNotFound,
    CoopNotFound,
    EnerlectraError,
    InsufficientFunds,
    InvalidProposal,
    NotAMember,
    UserNotFound,
)
from engine.kernel.references import reference_for
from engine.ledger.model import CreateTransferResult, Ledger, Transfer, TransferCode
from engine.ledger.operations import apply_operation

MAX_QUANTITY = 1000
MAX_SPEND_NGWEE = 100_000_000  # K1,000,000: far above any one co-op's equipment


def _int(payload: dict[str, Any], name: str, *, low: int, high: int) -> int:
    value = payload.get(name)
    try:
        number = int(value) if not isinstance(value, bool) else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = None
    if number is None or not low <= number <= high:
        raise InvalidProposal("a proposal's number is missing or out of range", field=name)
    return number


async def checked_payload(
    uow: CoopUnit, trail: AuditTrail, config: CoopConfig, kind: ProposalKind, raw: dict[str, Any]
) -> dict[str, str | int]:
    """The payload members will vote on, resolved and checked (phones become user ids, items get prices)."""
    coop = trail.coop
    if kind is ProposalKind.BUY_EQUIPMENT:
        supplier_id, item_id = str(raw.get("supplier", "")), str(raw.get("item", ""))
        quantity = _int(raw, "quantity", low=1, high=MAX_QUANTITY)
        item = await uow.coops.catalog_item(supplier_id, item_id)
        if item is None:
            raise CatalogItemNotFound("no such item in that supplier's catalog", supplier=supplier_id, item=item_id)
        if supplier_id == coop.id:
            raise InvalidProposal("a co-op does not buy from itself", field="supplier")
        return {
            "supplier": supplier_id, "item": item_id, "name": item.name, "quantity": quantity,
            "amount_ngwee": item.price_ngwee * quantity,
        }  # fmt: skip
    if kind is ProposalKind.MAINTENANCE:
        amount = _int(raw, "amount_ngwee", low=1, high=MAX_SPEND_NGWEE)
        payee = await uow.users.user_by_phone(str(raw.get("phone", "")))
        if payee is None:
            raise UserNotFound("the payee's number is not registered")
        text = " ".join(str(raw.get("text", "")).split())[: config.decision_text_max]
        return {"payee_id": payee.id, "phone": payee.phone, "amount_ngwee": amount, "text": text}
    if kind in (ProposalKind.REMOVE_MEMBER, ProposalKind.ELECT_ROLE):
        user = await uow.users.user_by_phone(str(raw.get("phone", "")))
        member = await uow.coops.member(coop.id, user.id) if user else None
        if user is None or member is None or member.state is not MemberState.FULL:
            raise NotAMember("that number is not a full member of this co-op")
        payload: dict[str, str | int] = {"user_id": user.id, "phone": user.phone}
        if kind is ProposalKind.ELECT_ROLE:
            try:
                role = Role(str(raw.get("role", "")))
            except ValueError:
                raise InvalidProposal("chair or treasurer", field="role") from None
            if role is Role.MEMBER:
                raise InvalidProposal("chair or treasurer", field="role")
            payload["role"] = str(role)
        return payload
    if kind is ProposalKind.SET_PRICE:
        return {"price_ngwee_per_kwh": _int(raw, "price_ngwee_per_kwh", low=1, high=100_000)}
    if kind is ProposalKind.CHANGE_BYLAW:
        name, value = str(raw.get("bylaw", "")), raw.get("value", "")
        changed = coop.bylaws.changed({name: value})  # raises InvalidBylaws when it could never apply
        return {"bylaw": name, "value": changed.to_dict()[name]}
    if kind is ProposalKind.DECISION:
        text = " ".join(str(raw.get("text", "")).split())
        if not 3 <= len(text) <= config.decision_text_max:
            raise InvalidProposal("a decision needs a short text", field="text", max=config.decision_text_max)
        return {"text": text}
    raise InvalidProposal("members do not propose this kind directly", field="kind")


async def execute(uow: CoopUnit, trail: AuditTrail, proposal: Proposal, *, now_us: int) -> None:
    """Carry out a succeeded proposal inside the caller's transaction; raises when it cannot be done now."""
    coop, payload, kind = trail.coop, proposal.payload, proposal.kind
    operation = f"coop-exec:{proposal.id}"
    if kind is ProposalKind.BUY_EQUIPMENT:
        supplier = await uow.coops.coop_by_id(str(payload["supplier"]))
        if supplier is None or supplier.kind != ClusterKind.SUPPLY:
            raise CoopNotFound("the supplier is gone", coop_id=str(payload["supplier"]))
        amount = int(payload["amount_ngwee"])
        await _pay(uow, operation, coop.treasury_account_id, supplier.treasury_account_id, amount,
                   TransferCode.COOP_EQUIPMENT)  # fmt: skip
        await uow.coops.insert_asset(
            Asset(coop.id, proposal.id, str(payload["item"]), str(payload["name"]), int(payload["quantity"]),
                  amount, supplier.id, now_us)
        )  # fmt: skip
    elif kind is ProposalKind.MAINTENANCE:
        payee = await uow.users.user_by_id(int(payload["payee_id"]))
        if payee is None:
            raise UserNotFound("the payee is gone")
        await _pay(uow, operation, coop.treasury_account_id, payee.zmw_account_id, int(payload["amount_ngwee"]),
                   TransferCode.COOP_SPEND)  # fmt: skip
    elif kind is ProposalKind.SET_PRICE:
        await uow.clusters.set_cluster_price(coop.id, int(payload["price_ngwee_per_kwh"]))
    elif kind is ProposalKind.CHANGE_BYLAW:
        trail.coop = replace(coop, bylaws=coop.bylaws.changed({str(payload["bylaw"]): payload["value"]}))
    elif kind is ProposalKind.ELECT_ROLE:
        await _elect(uow, trail, int(payload["user_id"]), Role(str(payload["role"])))
    elif kind is ProposalKind.REMOVE_MEMBER:
        await remove_member(uow, trail, int(payload["user_id"]), now_us)
    elif kind is ProposalKind.ADMIT_MEMBER:
        pass  # applied when the vote succeeded: an admitted applicant may start contributing at once
    # DECISION: the record of the members' decision is the execution


async def _pay(uow: CoopUnit, operation: str, debit: str, credit: str, amount: int, code: TransferCode) -> None:
    transfer = Transfer(
        id=operation, debit_account_id=debit, credit_account_id=credit, amount=amount,
        ledger=Ledger.ZMW, code=code, reference=reference_for(operation),
    )  # fmt: skip

    def refusal(_index: int, result: CreateTransferResult) -> EnerlectraError | None:
        if result is CreateTransferResult.EXCEEDS_CREDITS:
            return InsufficientFunds("the treasury holds less than this", ngwee=amount)
        return None

    await apply_operation(uow.ledger, [transfer], refusal)


async def _elect(uow: CoopUnit, trail: AuditTrail, user_id: int, role: Role) -> None:
    member = await uow.coops.member_for_update(trail.coop.id, user_id)
    if member is None or member.state is not MemberState.FULL:
        raise NotAMember("the elected member is no longer a full member")
    for other in await uow.coops.members(trail.coop.id, limit=100_000):
        if other.role is role and other.user_id != user_id:
            locked = await uow.coops.member_for_update(trail.coop.id, other.user_id)
            if locked is not None:
                await uow.coops.update_member(replace(locked, role=Role.MEMBER))
    await uow.coops.update_member(replace(member, role=role))
