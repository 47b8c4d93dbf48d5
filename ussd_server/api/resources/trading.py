"""Gifts and offers between people, as on USSD: a sale is an offer the buyer accepts with their own PIN.

There is no direct trade: no money ever leaves a wallet without its owner's
PIN in that request. Gifts, offers and answering offers each need the PIN
and an ``Idempotency-Key``.
"""

from __future__ import annotations

from engine.kernel.errors import OfferNotFound
from ussd_server.api import scopes
from ussd_server.api.models.trading import AnswerOffer, Counterparty, Declined, Gift, MakeOffer, Offer, SendGift, Trade
from ussd_server.api.pins import verified
from ussd_server.api.routing import Call, Idempotency, Reply, Route
from ussd_server.phones import parse_zambian_mobile

OFFER_ID_PATTERN = r"^[A-Za-z0-9:_-]{1,100}$"
PHONE_PATTERN = r"^[0-9+()\-. ]{9,20}$"


async def counterparty(call: Call) -> Reply:
    """Who a number belongs to, before trading with them (counts toward the daily cap of lookups)."""
    other = await call.platform.users.look_up(call.user(), parse_zambian_mobile(call.path("phone")))
    return Reply(Counterparty(phone=other.phone, short_name=other.short_name))


async def gift(call: Call) -> Reply:
    body, user = call.body_as(SendGift), call.user()
    to = parse_zambian_mobile(body.to)
    await verified(call, user, body.pin)
    receipt = await call.platform.trading.trade(
        seller=user, buyer_phone=to, wh=body.wh, price_ngwee_per_kwh=0, operation_id=call.operation_id
    )
    return Reply(Gift(reference=receipt.reference, to=receipt.buyer_phone, energy_wh=receipt.quote.wh), status=201)


async def make_offer(call: Call) -> Reply:
    body, user = call.body_as(MakeOffer), call.user()
    to = parse_zambian_mobile(body.to)
    await verified(call, user, body.pin)
    offer = await call.platform.offers.offer(
        seller=user,
        buyer_phone=to,
        wh=body.wh,
        price_ngwee_per_kwh=body.price_ngwee_per_kwh,
        operation_id=call.operation_id,
    )
    return Reply(Offer.of(offer, buyer_phone=to), status=201)


async def offers(call: Call) -> Reply:
    return Reply([Offer.received(v) for v in await call.platform.offers.open_offers(call.user())])


async def offer(call: Call) -> Reply:
    view = await call.platform.offers.offer_for(call.user(), call.path("offer_id"))
    if view is None:
        raise OfferNotFound("no such offer for you")
    return Reply(Offer.received(view))


async def accept(call: Call) -> Reply:
    body, user = call.body_as(AnswerOffer), call.user()
    await verified(call, user, body.pin)
    receipt = await call.platform.offers.accept(buyer=user, offer_id=call.path("offer_id"))
    return Reply(Trade.of(receipt), status=201)


async def decline(call: Call) -> Reply:
    body, user = call.body_as(AnswerOffer), call.user()
    await verified(call, user, body.pin)
    declined = await call.platform.offers.decline(buyer=user, offer_id=call.path("offer_id"))
    return Reply(Declined(id=declined.id))


_OFFER = {"offer_id": OFFER_ID_PATTERN}

ROUTES = (
    Route(
        "GET",
        "/counterparts/{phone}",
        counterparty,
        "Who a number belongs to (before a gift or an offer)",
        "trading",
        scopes.USER,
        data=Counterparty,
        path_patterns={"phone": PHONE_PATTERN},
        description="Counts toward the daily cap of lookups (`DAILY_LIMIT`, 429): no free probing of who is "
        "registered. `COUNTERPARTY_NOT_FOUND` for a number without an account.",
    ),
    Route(
        "POST",
        "/gifts",
        gift,
        "Give energy to someone",
        "trading",
        scopes.USER,
        data=Gift,
        status=201,
        body=SendGift,
        idempotency=Idempotency.REQUIRED,
        kind="gift",
        pin=True,
        description="Both get an SMS. Gifts a day are capped (`DAILY_LIMIT`, 429).",
    ),
    Route(
        "POST",
        "/offers",
        make_offer,
        "Offer energy for sale to someone",
        "offers",
        scopes.USER,
        data=Offer,
        status=201,
        body=MakeOffer,
        idempotency=Idempotency.REQUIRED,
        kind="offer",
        pin=True,
        description="Your energy is reserved until the buyer accepts or declines, or the offer expires; "
        "the buyer gets an SMS.",
    ),
    Route("GET", "/offers", offers, "Open offers made to you", "offers", scopes.USER, data=list[Offer]),
    Route(
        "GET",
        "/offers/{offer_id}",
        offer,
        "One offer made to you",
        "offers",
        scopes.USER,
        data=Offer,
        path_patterns=_OFFER,
    ),
    Route(
        "POST",
        "/offers/{offer_id}/accept",
        accept,
        "Accept an offer: pay and take the energy",
        "offers",
        scopes.USER,
        data=Trade,
        status=201,
        body=AnswerOffer,
        idempotency=Idempotency.REQUIRED,
        kind="accept",
        pin=True,
        path_patterns=_OFFER,
    ),
    Route(
        "POST",
        "/offers/{offer_id}/decline",
        decline,
        "Decline an offer: the seller's energy goes back to them",
        "offers",
        scopes.USER,
        data=Declined,
        body=AnswerOffer,
        idempotency=Idempotency.REQUIRED,
        kind="decline",
        pin=True,
        path_patterns=_OFFER,
        description="Unlike on USSD, declining also needs the PIN: over the internet a token alone is a "
        "weaker proof than the SIM in the phone.",
    ),
)
