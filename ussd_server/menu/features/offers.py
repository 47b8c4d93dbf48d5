"""Offers made to me (menus/features/offers.yaml): the list, one offer with its PIN, accept or decline."""

from __future__ import annotations

from engine.kernel.errors import EnerlectraError, OutflowHeld
from ussd_server.menu.context import Hop
from ussd_server.menu.features.gates import failure, need_user, verified
from ussd_server.menu.registry import Feature, Item, Outcome


async def offers(hop: Hop) -> list[Item]:
    views = await hop.platform.offers.open_offers(await need_user(hop))
    return [
        Item(v.offer.id, {"name": v.seller_name, "wh": v.offer.wh, "cost": v.offer.cost_ngwee + v.offer.fee_ngwee})
        for v in views
    ]


async def offer_details(hop: Hop) -> Outcome:
    user = await need_user(hop)
    view = await hop.platform.offers.offer_for(user, str(hop.session.values.get("offer", "")))
    if view is None:
        return Outcome(values={}, keep=False)
    offer = view.offer
    return Outcome(
        values={
            "seller_name": view.seller_name,
            "seller_phone": view.seller_phone,
            "wh": offer.wh,
            "cost": offer.cost_ngwee,
            "fee": offer.fee_ngwee,
            "total": offer.cost_ngwee + offer.fee_ngwee,
        },
        keep=False,
    )


async def accept_offer(hop: Hop) -> Outcome:
    checked = await verified(hop)
    if isinstance(checked, Outcome):
        return checked
    user = checked.user
    try:
        receipt = await hop.platform.offers.accept(buyer=user, offer_id=str(hop.session.values.get("offer", "")))
    except OutflowHeld as exc:
        return Outcome(route=exc.code, keep=False)
    except EnerlectraError as exc:
        balance = await hop.platform.wallet.balances(user)
        return failure(exc, ngwee=balance.ngwee)
    hop.sms_queued = True
    hop.session.back.clear()
    return Outcome(
        values={"ref": receipt.reference, "wh": receipt.quote.wh, "total": receipt.quote.buyer_pays}, keep=False
    )


async def decline_offer(hop: Hop) -> Outcome:
    user = await need_user(hop)
    offer_id = str(hop.session.values.get("offer", ""))
    view = await hop.platform.offers.offer_for(user, offer_id)
    try:
        await hop.platform.offers.decline(buyer=user, offer_id=offer_id)
    except EnerlectraError as exc:
        return failure(exc)
    hop.sms_queued = True
    hop.session.back.clear()
    return Outcome(values={"seller_name": view.seller_name if view else ""}, keep=False)


FEATURE = Feature(
    name="offers",
    actions={"offer_details": offer_details, "accept_offer": accept_offer, "decline_offer": decline_offer},
    sources={"offers": offers},
)
