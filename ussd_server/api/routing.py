"""The route table's rows, and the one adapter that turns a row into an aiohttp handler.

A :class:`Route` says everything about an operation once: path and method,
who may call it (scopes), its query and body models, what it answers, whether
it needs an ``Idempotency-Key``. The adapter enforces exactly that, and the
OpenAPI document is generated from the same rows (``ussd_server.api.openapi``).

Order of checks, so that nothing is looked at before it may be: the
credential (401) and its scopes (403), then the request's form (400), then
the idempotency claim (409/422 or a replay), then the operation itself.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from engine.access.idempotency import operation_id
from engine.access.model import Principal, Scope, StoredResponse
from engine.access.service import AccessService
from engine.identity.model import User
from engine.kernel.errors import Forbidden, IdempotencyKeyMissing, InvalidRequest, Unauthenticated
from engine.platform import Platform
from ussd_server.api.envelope import JSON, Data, json_response, ok_body
from ussd_server.api.errors import RESPONSE_HOOK, UnsupportedMediaType
from ussd_server.api.models.common import Body, Query
from ussd_server.appkeys import PLATFORM, SETTINGS
from ussd_server.settings import Settings

B = TypeVar("B", bound=Body)
Q = TypeVar("Q", bound=Query)
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


class Idempotency(enum.Enum):
    NONE = "none"
    OPTIONAL = "optional"  # honoured when sent
    REQUIRED = "required"  # every request that moves money or energy


@dataclass(frozen=True, slots=True)
class Reply:
    data: Data
    status: int = 200
    meta: BaseModel | None = None


@dataclass(slots=True)
class Call:
    """One request, checked: who is asking, and its parsed query and body."""

    request: web.Request
    platform: Platform
    settings: Settings
    principal: Principal
    credential: str | None = None
    body: Body | None = None
    query: Query | None = None
    operation_id: str | None = None  # the ledger operation, derived from the Idempotency-Key

    def user(self) -> User:
        if self.principal.user is None:
            raise Forbidden("only a signed-in user can do this", needs=Scope.USER.value)
        return self.principal.user

    def body_as(self, model: type[B]) -> B:
        assert isinstance(self.body, model), (
            f"route declares {type(self.body).__name__}, handler wants {model.__name__}"
        )
        return self.body

    def query_as(self, model: type[Q]) -> Q:
        assert isinstance(self.query, model), (
            f"route declares {type(self.query).__name__}, handler wants {model.__name__}"
        )
        return self.query

    def path(self, name: str) -> str:
        return self.request.match_info[name]


Run = Callable[[Call], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # below /api/v1, with {name} parameters
    run: Run
    summary: str
    tag: str
    scopes: frozenset[Scope] | None  # any one of them will do; None: no credential at all (signing in, docs)
    data: Any = None  # the response's `data`: a model, list[model], or None
    status: int = 200
    body: type[Body] | None = None
    query: type[Query] | None = None
    idempotency: Idempotency = Idempotency.NONE
    kind: str = ""  # names the ledger operation derived from an Idempotency-Key
    pin: bool = False  # the body carries the user's PIN, checked in this request
    choosing_pin: bool = False  # open to a user on a one-time PIN (who must choose a new one first)
    paged: bool = False
    description: str = ""
    path_patterns: dict[str, str] = field(default_factory=dict)  # {name: regex} for path parameters


def bearer(request: web.Request) -> str:
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthenticated("send Authorization: Bearer <API key or sign-in token>")
    return credential.strip()


def _invalid(exc: ValidationError, where: str) -> InvalidRequest:
    first = exc.errors(include_url=False, include_context=False, include_input=False)[0]
    loc = ".".join(str(part) for part in first["loc"]) or where
    return InvalidRequest(f"{where} {loc}: {first['msg']}", field=loc, count=exc.error_count())


async def _body(request: web.Request, model: type[Body]) -> Body:
    if request.content_type != JSON:
        raise UnsupportedMediaType("send the body as application/json")
    raw = await request.read()
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise _invalid(exc, "body") from None


def _query(request: web.Request, model: type[Query]) -> Query:
    if len(set(request.query)) != len(request.query):
        raise InvalidRequest("a query parameter was given twice")
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise _invalid(exc, "query") from None


async def _claim(call: Call, route: Route) -> web.Response | None:
    """Claim the request's Idempotency-Key, or the first answer to replay; sets ``call.operation_id``."""
    request, idempotency = call.request, call.platform.idempotency
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        if route.idempotency is Idempotency.REQUIRED:
            raise IdempotencyKeyMissing(f"send an {IDEMPOTENCY_HEADER} header (e.g. a UUID) so a retry is safe")
        return None
    principal = call.principal.name
    payload = call.body.model_dump_json().encode() if call.body is not None else b""
    fingerprint = idempotency.fingerprint(request.method.encode(), request.path.encode(), payload)
    stored = await idempotency.begin(principal, key, fingerprint)
    if stored is not None:
        return json_response(stored.body.encode(), stored.status, {REPLAYED_HEADER: "true"})
    call.operation_id = operation_id(principal, key, route.kind or route.tag)

    async def settle(response: web.Response) -> None:
        body = response.body if isinstance(response.body, bytes) else b""
        if response.status >= 500 or response.status == 429:
            # Busy or rate-limited: nothing was done, so a retry must run afresh. After a failure of our
            # own a retry runs again too; if the ledger applied the operation, it recognises it by its id.
            await idempotency.abandon(principal, key, fingerprint)
        else:
            await idempotency.finish(principal, key, fingerprint, StoredResponse(response.status, body.decode()))

    request[RESPONSE_HOOK] = settle
    return None


def handler_for(route: Route) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        platform = request.config_dict[PLATFORM]
        call = Call(request, platform, request.config_dict[SETTINGS], Principal(frozenset()))
        if route.scopes is not None:
            call.credential = bearer(request)
            call.principal = await platform.access.authenticate(call.credential)
            AccessService.authorize(call.principal, route.scopes, choosing_pin=route.choosing_pin)
        if route.query is not None:
            call.query = _query(request, route.query)
        if route.body is not None:
            call.body = await _body(request, route.body)
        if route.idempotency is not Idempotency.NONE:
            replay = await _claim(call, route)
            if replay is not None:
                return replay
        reply = await route.run(call)
        return json_response(ok_body(reply.data, reply.meta), reply.status)

    handler.__name__ = route.run.__name__
    return handler
