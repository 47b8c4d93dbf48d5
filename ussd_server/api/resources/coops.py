"""Energy co-ops, as on USSD: find and form one, join, contribute, leave (proposals and votes: coops_governance).

Anything a member does in a co-op's name needs their PIN in the request. A
contribution moves money: it needs an ``Idempotency-Key``, which becomes the
ledger operation, so a retry returns the same receipt and pays once. Forming
needs one too, and the new co-op's id is derived from it, so a retry after a
lost answer never forms a second co-op.

What is public: the co-ops, their bylaws, treasury and counts, a supply
co-op's catalog. What is the members' business (the register, proposals and
votes) a user's token reads only for a co-op it belongs to; an ``admin`` key
reads any co-op's.
"""

from __future__ import annotations

import hashlib
import re

from engine.coops.bylaws import default_bylaws
from engine.coops.model import MemberState
from engine.coops.service import slug_for
from engine.identity.model import User
from engine.kernel.errors import CoopNotFound, NotAMember
from ussd_server.api import scopes
from ussd_server.api.models.coop_views import (
    CatalogEntry,
    Contribution,
    CoopSummaryView,
    CoopView,
    MembershipView,
    MemberView,
    MyCoop,
)
from ussd_server.api.models.coops import COOP_ID_PATTERN, ConfirmWithPin, Contribute, CoopsQuery, FormCoop, Page
from ussd_server.api.pins import verified
from ussd_server.api.routing import Call, Idempotency, Reply, Route

COOP = {"coop_id": COOP_ID_PATTERN}
_COOP_ID = re.compile(COOP_ID_PATTERN)
# Who reads a co-op's register and proposals: its members, and an applicant (whose admission is voted on).
_READS = frozenset({MemberState.APPLIED, MemberState.ADMITTED, MemberState.FULL, MemberState.LEAVING})


def coop_id_of(call: Call) -> str:
    coop_id = call.path("coop_id")
    if not _COOP_ID.match(coop_id):  # no such co-op can exist: no need to ask the database
        raise CoopNotFound("no such co-op", coop_id=coop_id[:60])
    return coop_id


async def members_reader(call: Call, coop_id: str) -> User | None:
    """The user reading a co-op's members' business (one of them), or None for an operator's key."""
    await call.platform.coops.get(coop_id)  # an unknown co-op is 404 for everyone
    user = call.principal.user
    if user is None:
        return None
    member = await call.platform.coops.member(coop_id, user)
    if member is None or member.state not in _READS:
        raise NotAMember("only the co-op's members see this")
    return user


def _formed_id(name: str, operation_id: str | None) -> str | None:
    """The new co-op's id: its name's slug with a suffix derived from the Idempotency-Key's operation."""
    if operation_id is None:
        return None
    base = slug_for(name).rsplit("-", 1)[0]
    return f"{base}-{hashlib.blake2b(operation_id.encode(), digest_size=2).hexdigest()}"


async def coops(call: Call) -> Reply:
    query = call.query_as(CoopsQuery)
    found = await call.platform.coops.find(region=query.region, limit=query.limit, offset=query.offset)
    return Reply([CoopView.of(coop) for coop in found])


async def my_coops(call: Call) -> Reply:
    held = await call.platform.coops.memberships(call.user())
    return Reply([MyCoop(coop=CoopView.of(coop), me=MembershipView.of(member)) for coop, member in held])


async def form_coop(call: Call) -> Reply:
    body, user = call.body_as(FormCoop), call.user()
    changes = body.bylaws.model_dump(exclude_none=True) if body.bylaws is not None else {}
    bylaws = default_bylaws(body.kind).changed(changes)  # INVALID_BYLAWS names the first it refuses
    proof = await verified(call, user, body.pin)
    formed = await call.platform.coops.form(
        proof,
        user,
        name=body.name,
        kind=body.kind,
        region=body.region,
        bylaws=bylaws,
        coop_id=_formed_id(body.name, call.operation_id),
        price_ngwee_per_kwh=body.price_ngwee_per_kwh,
    )
    return Reply(CoopSummaryView.of_summary(await call.platform.coops.summary(formed.id, user)), status=201)


async def coop(call: Call) -> Reply:
    summary = await call.platform.coops.summary(coop_id_of(call), call.principal.user)
    return Reply(CoopSummaryView.of_summary(summary))


async def coop_members(call: Call) -> Reply:
    query, coop_id = call.query_as(Page), coop_id_of(call)
    await members_reader(call, coop_id)
    page = await call.platform.coops.members(coop_id, limit=query.limit, offset=query.offset)
    users = call.platform.users
    return Reply([MemberView.of(member, await users.find(member.phone)) for member in page])


async def catalog(call: Call) -> Reply:
    coop_id = coop_id_of(call)
    await call.platform.coops.get(coop_id)
    return Reply([CatalogEntry.of(item) for item in await call.platform.coops.catalog(coop_id)])


async def join_coop(call: Call) -> Reply:
    return Reply(MembershipView.of(await call.platform.coops.join(call.user(), coop_id_of(call))), status=201)


async def contribute(call: Call) -> Reply:
    body, user, coop_id = call.body_as(Contribute), call.user(), coop_id_of(call)
    proof = await verified(call, user, body.pin)
    receipt = await call.platform.coops.contribute(
        proof, user, coop_id, body.amount_ngwee, operation_id=call.operation_id
    )
    return Reply(Contribution.of(receipt), status=201)


async def leave_coop(call: Call) -> Reply:
    body, user, coop_id = call.body_as(ConfirmWithPin), call.user(), coop_id_of(call)
    proof = await verified(call, user, body.pin)
    return Reply(MembershipView.of(await call.platform.coops.leave(proof, user, coop_id)))


ROUTES = (
    Route(
        "GET",
        "/coops",
        coops,
        "Co-ops, by name (within a region)",
        "coops",
        scopes.READERS,
        data=list[CoopView],
        query=CoopsQuery,
        description="Page with `limit` and `offset`; a page shorter than `limit` is the last.",
    ),
    Route(
        "POST",
        "/coops",
        form_coop,
        "Form a co-op: you are its first member",
        "coops",
        scopes.USER,
        data=CoopSummaryView,
        status=201,
        body=FormCoop,
        idempotency=Idempotency.REQUIRED,
        kind="coop-form",
        pin=True,
        description="Bylaws left out take the defaults of the co-op's type (`min_members`: micro 10, "
        "neighbourhood 50, industrial 1, supply 2). The co-op is `forming` until that many members have each "
        "paid the minimum contribution. `INVALID_BYLAWS` (422) names the first bylaw refused in "
        "`details.bylaw`; `INVALID_NAME` (422) for a name without 3 to 40 letters.",
    ),
    Route(
        "GET",
        "/me/coops",
        my_coops,
        "The co-ops you belong to, with your place in each",
        "coops",
        scopes.USER,
        data=list[MyCoop],
        description="Applied, admitted, full or leaving.",
    ),
    Route(
        "GET",
        "/coops/{coop_id}",
        coop,
        "A co-op: bylaws, treasury, members, open proposals (and your place in it)",
        "coops",
        scopes.READERS,
        data=CoopSummaryView,
        path_patterns=COOP,
        description="`me` is set for a user's token of a member. `COOP_NOT_FOUND` (404).",
    ),
    Route(
        "GET",
        "/coops/{coop_id}/members",
        coop_members,
        "The member register, most shares first",
        "coops",
        scopes.USER_OR_ADMIN,
        data=list[MemberView],
        query=Page,
        path_patterns=COOP,
        description="Current members (admitted, full, leaving). A user's token reads the register of its own "
        "co-ops only (`NOT_A_MEMBER`, 422). Page with `limit` and `offset`.",
    ),
    Route(
        "POST",
        "/coops/{coop_id}/join",
        join_coop,
        "Ask to join a co-op",
        "coops",
        scopes.USER,
        data=MembershipView,
        status=201,
        idempotency=Idempotency.OPTIONAL,
        kind="coop-join",
        path_patterns=COOP,
        description="Admitted at once where admission is open (or the co-op is still forming): contribute next. "
        "Where the bylaws admit by vote, `applied`, and the members vote on an `admit_member` proposal; you get "
        "an SMS with the result. `ALREADY_MEMBER` (409) for someone in the register already.",
    ),
    Route(
        "POST",
        "/coops/{coop_id}/contributions",
        contribute,
        "Pay into the co-op from your wallet: shares at par, the rest as credit",
        "coops",
        scopes.USER,
        data=Contribution,
        status=201,
        body=Contribute,
        idempotency=Idempotency.REQUIRED,
        kind="coop-contribution",
        pin=True,
        path_patterns=COOP,
        description="Instalments are taken up to the bylaws' deadline; reaching the minimum makes you a full "
        "(voting) member, and the co-op active at its minimum membership. You get an SMS receipt. A retry with "
        "the same Idempotency-Key returns the same receipt and pays once. `CONTRIBUTION_OUT_OF_RANGE` (422) "
        "with `details.most_ngwee` and `least_ngwee`; `INSUFFICIENT_FUNDS`, `NOT_A_MEMBER` (join first).",
    ),
    Route(
        "POST",
        "/coops/{coop_id}/leave",
        leave_coop,
        "Give notice: you are refunded at par when it ends",
        "coops",
        scopes.USER,
        data=MembershipView,
        body=ConfirmWithPin,
        idempotency=Idempotency.OPTIONAL,
        kind="coop-leave",
        pin=True,
        path_patterns=COOP,
        description="`refund_due_at` says when the bylaws' exit notice ends; refunds are paid in order, as far "
        "as the treasury allows (it never overdraws), with an SMS.",
    ),
    Route(
        "GET",
        "/coops/{coop_id}/catalog",
        catalog,
        "A supply co-op's equipment at its bulk prices",
        "coops",
        scopes.READERS,
        data=list[CatalogEntry],
        path_patterns=COOP,
        description="What a `buy_equipment` proposal of another co-op names (`supplier`: this co-op's id, "
        "`item`). Empty for a co-op that is not a supplier.",
    ),
)
