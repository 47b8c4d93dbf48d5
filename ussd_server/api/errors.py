"""Errors become responses here, and only here: the engine's error tree decides the HTTP status.

=====================================  ======  ==============================================
error (engine.kernel.errors)           status  why
=====================================  ======  ==============================================
InvalidRequest (and its kin)           400     the request does not match the OpenAPI schema
                                               (bad JSON, a missing or mistyped field, no
                                               Idempotency-Key where one is required)
InvalidInput (any other)               422     well-formed, but the engine refuses the value
                                               (not a Zambian mobile, a weak PIN, an amount
                                               too small); also a reused Idempotency-Key
Unauthenticated                        401     no credential, or an unknown/expired/revoked one
Forbidden                              403     the credential lacks the scope
NotFound                               404     also an unknown route
method not allowed                     405     with ``Allow``
Conflict                               409     already registered; an Idempotency-Key in use
AlreadyMember                          409     already in a co-op's register: "already so",
                                               like already registered
payload too large / not JSON           413/415
PaymentLimitReached                    422     an amount over the user's KYC tier: waiting does
                                               not help (a per-payment limit or the wallet's cap
                                               never lifts by itself), the amount must change,
                                               so no Retry-After, and the answer is kept for a
                                               retry with the same Idempotency-Key
Limited (daily caps, PIN checks,       429     with ``Retry-After`` (seconds)
sign-in failures)
Refused (any other)                    422     the rules say no (insufficient funds, wrong PIN,
                                               PIN locked, offer expired...)
Busy                                   503     with ``Retry-After``; nothing was done
anything else                          500     logged with its traceback, never sent
=====================================  ======  ==============================================

The error ``code`` is the engine error's own ``code`` upper-cased
(``insufficient_funds`` -> ``INSUFFICIENT_FUNDS``), and ``details`` its named
params; ``message`` is its English detail, for people reading logs.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Handler

from engine.kernel.clock import MICROS_PER_SECOND
from engine.kernel.errors import (
    AlreadyMember,
    Busy,
    Conflict,
    EnerlectraError,
    Forbidden,
    InvalidInput,
    InvalidRequest,
    Limited,
    NotFound,
    PaymentLimitReached,
    Refused,
    Unauthenticated,
)
from ussd_server.api.envelope import error_body, json_response
from ussd_server.appkeys import PLATFORM
from ussd_server.logfields import logfield

log = logging.getLogger("enerlectra.api")


# --- what only HTTP can get wrong: still engine errors, so one table maps them -----------------


class RouteNotFound(NotFound):
    code = "route_not_found"


class MethodNotAllowed(EnerlectraError):
    code = "method_not_allowed"


class PayloadTooLarge(InvalidRequest):
    code = "payload_too_large"


class UnsupportedMediaType(InvalidRequest):
    code = "unsupported_media_type"


class RequestTimeout(InvalidRequest):
    code = "request_timeout"


class InternalError(EnerlectraError):
    code = "internal_error"


# Most specific first: a subclass listed before its base wins.
STATUSES: tuple[tuple[type[EnerlectraError], int], ...] = (
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (RequestTimeout, 408),
    (InvalidRequest, 400),
    (InvalidInput, 422),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (MethodNotAllowed, 405),
    (Conflict, 409),
    (AlreadyMember, 409),  # a Refused, but "already so" is a conflict, as for AlreadyRegistered
    (PaymentLimitReached, 422),
    (Limited, 429),
    (Refused, 422),
    (Busy, 503),
)
_FROM_HTTP: dict[int, type[EnerlectraError]] = {
    400: InvalidRequest,
    404: RouteNotFound,
    405: MethodNotAllowed,
    408: RequestTimeout,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    429: Limited,
    503: Busy,
}


def status_for(exc: EnerlectraError) -> int:
    return next((status for cls, status in STATUSES if isinstance(exc, cls)), 500)


def _details(exc: EnerlectraError) -> dict[str, int | str | bool]:
    return {k: v if isinstance(v, int | str | bool) else str(v) for k, v in exc.params.items()}


def retry_after_s(exc: EnerlectraError, now_us: int) -> int:
    """Whole seconds until trying again makes sense (never 0: that would invite a busy loop)."""
    if "retry_after_s" in exc.params:
        return max(1, math.ceil(float(exc.params["retry_after_s"])))
    until = exc.params.get("until_us")
    if isinstance(until, int):
        return max(1, math.ceil((until - now_us) / MICROS_PER_SECOND))
    return 1


def error_response(exc: EnerlectraError, now_us: int, headers: dict[str, str] | None = None) -> web.Response:
    status = status_for(exc)
    extra = dict(headers or {})
    if status in (429, 503):
        extra["Retry-After"] = str(retry_after_s(exc, now_us))
    elif status == 401:
        extra["WWW-Authenticate"] = 'Bearer realm="enerlectra"'
    message = (
        exc.detail
        if status < 500
        else "something went wrong on our side; a retry with the same Idempotency-Key is safe"
    )
    return json_response(error_body(exc.code.upper(), message, _details(exc)), status, extra)


def _from_http(exc: web.HTTPException) -> tuple[EnerlectraError, dict[str, str]]:
    kind = _FROM_HTTP.get(exc.status)
    if kind is None:
        kind = InvalidRequest if exc.status < 500 else InternalError
    headers = {}
    if isinstance(exc, web.HTTPMethodNotAllowed):
        headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
    if "Retry-After" in exc.headers:
        headers["Retry-After"] = exc.headers["Retry-After"]
    return kind(exc.reason.lower()), headers


# A request's last word: e.g. its idempotency claim is settled with whatever response it ended with.
ResponseHook = Callable[[web.Response], Awaitable[None]]
RESPONSE_HOOK: web.RequestKey[ResponseHook] = web.RequestKey("api_response_hook")


def _route(request: web.Request) -> str:
    """The route's pattern, never the path itself: a path may hold a phone number."""
    resource = request.match_info.route.resource
    return logfield(resource.canonical if resource is not None else "(no route)", 120)


def _now_us(request: web.Request) -> int:
    platform = request.config_dict.get(PLATFORM)
    return platform.clock.now_us() if platform is not None else time.time_ns() // 1000


def api_errors(prefix: str) -> web.middleware:  # type: ignore[valid-type]
    """Every answer under ``prefix`` is an envelope, whatever went wrong (on the main app: it also
    catches the body limits the main app's own middlewares enforce before the API sees a request)."""
    under = prefix.rstrip("/")

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if not (path == under or path.startswith(under + "/")):
            return await handler(request)
        try:
            response = await handler(request)
        except EnerlectraError as exc:
            response = error_response(exc, _now_us(request))
        except web.HTTPException as exc:
            if exc.status < 400:  # a redirect is an answer, not an error
                raise
            error, headers = _from_http(exc)
            response = error_response(error, _now_us(request), headers)
            if exc.status != status_for(error):  # e.g. 408 or 413 raised before the API saw the request
                response.set_status(exc.status)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("api: unexpected error on %s %s", request.method, _route(request))
            response = error_response(InternalError("internal error"), _now_us(request))
        hook = request.get(RESPONSE_HOOK)
        if hook is not None and isinstance(response, web.Response):
            try:
                await hook(response)
            except Exception:  # the answer stands; a lost idempotency record only makes a retry re-run
                log.exception("api: settling %s %s failed", request.method, _route(request))
        return response

    return middleware
