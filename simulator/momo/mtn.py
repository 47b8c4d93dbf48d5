"""The MTN MoMo Open API: tokens, Collection's requesttopay and Disbursement's transfer.

- ``POST /{product}/token/``: Basic ``api_user:api_key`` and the product's
  ``Ocp-Apim-Subscription-Key`` -> ``{access_token, token_type, expires_in}``.
- ``POST /collection/v1_0/requesttopay``, ``POST /disbursement/v1_0/transfer``:
  Bearer token, ``X-Reference-Id`` (a UUID), ``X-Target-Environment``,
  optional ``X-Callback-Url``; 202 with no body; 409 for a reused reference.
- ``GET /collection/v1_0/requesttopay/{referenceId}``,
  ``GET /disbursement/v1_0/transfer/{referenceId}``: 200 with the status
  body (``mtn_wire.status_body``), 404 when unknown.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from simulator.momo.auth import basic_credentials, same
from simulator.momo.faults import Call
from simulator.momo.keys import TOKENS, WORLD, json_response, read_json
from simulator.momo.model import COLLECTION, DISBURSEMENT, MTN, ZAMBIAN_MOBILE, Kind, Txn, reason_text
from simulator.momo.money import parse_amount
from simulator.momo.mtn_wire import apim_error, error_body, status_body
from simulator.momo.world import World

PATHS: dict[Kind, tuple[str, str]] = {
    COLLECTION: ("collection", "requesttopay"),
    DISBURSEMENT: ("disbursement", "transfer"),
}

Handler = Callable[[web.Request], Awaitable[web.Response]]


def _product_key(request: web.Request, kind: Kind) -> str:
    config = request.app[WORLD].config
    return config.mtn_collection_key if kind == COLLECTION else config.mtn_disbursement_key


def _gateway_refusal(request: web.Request, kind: Kind, *, token: bool) -> web.Response | None:
    key = request.headers.get("Ocp-Apim-Subscription-Key")
    if not key:
        return json_response(apim_error("Access denied due to missing subscription key."), 401)
    if not same(key, _product_key(request, kind)):
        return json_response(apim_error("Access denied due to invalid subscription key."), 401)
    if token and not request.app[TOKENS].valid(request, f"mtn-{kind}"):
        return json_response(apim_error("Access denied due to invalid or expired access token."), 401)
    return None


def token_handler(kind: Kind) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        refused = _gateway_refusal(request, kind, token=False)
        if refused is not None:
            return refused
        config = request.app[WORLD].config
        given = basic_credentials(request)
        if given is None or not (same(given[0], config.mtn_api_user) and same(given[1], config.mtn_api_key)):
            return json_response({"error": "login_failed"}, 401)
        token = request.app[TOKENS].issue(f"mtn-{kind}", config.mtn_token_ttl_s)
        return json_response(
            {"access_token": token, "token_type": "access_token", "expires_in": config.mtn_token_ttl_s}
        )

    return handler


def _bad(code: str, message: str) -> web.Response:
    return json_response(error_body(code, message), 400)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) == 36


def _parse_submit(request: web.Request, kind: Kind, data: dict[str, object]) -> Txn | web.Response:
    world = request.app[WORLD]
    config = world.config
    amount_text = data.get("amount")
    amount = parse_amount(amount_text) if isinstance(amount_text, str) else None
    if amount is None or amount == 0:
        return _bad("INVALID_AMOUNT", "amount must be a positive decimal string with at most 2 decimals")
    if data.get("currency") != config.currency:
        return _bad("INVALID_CURRENCY", f"currency must be {config.currency}")
    role = "payer" if kind == COLLECTION else "payee"
    party = data.get(role)
    party_id = party.get("partyId") if isinstance(party, dict) else None
    if not isinstance(party, dict) or party.get("partyIdType") != "MSISDN" or not isinstance(party_id, str):
        return _bad(f"{role.upper()}_NOT_FOUND", f"{role} must be {{partyIdType: MSISDN, partyId}}")
    msisdn = "+" + party_id
    if not ZAMBIAN_MOBILE.match(msisdn):
        return _bad(f"{role.upper()}_NOT_FOUND", f"{role}.partyId must be a Zambian MSISDN such as 260961234567")
    callback = request.headers.get("X-Callback-Url")
    if callback is not None and (urlsplit(callback).scheme not in ("http", "https") or not urlsplit(callback).netloc):
        return _bad("INVALID_CALLBACK_URL_HOST", "X-Callback-Url must be an http(s) URL")
    texts = {k: data.get(k, "") for k in ("externalId", "payerMessage", "payeeNote")}
    if not all(isinstance(v, str) for v in texts.values()):
        return _bad("RESOURCE_NOT_FOUND", "externalId, payerMessage and payeeNote are strings")
    return Txn(
        provider=MTN,
        kind=kind,
        reference_id=request.headers["X-Reference-Id"],
        external_id=str(texts["externalId"]),
        msisdn=msisdn,
        amount_ngwee=amount,
        amount_text=amount_text if isinstance(amount_text, str) else "",
        currency=config.currency,
        payer_message=str(texts["payerMessage"]),
        payee_note=str(texts["payeeNote"]),
        callback_url=callback,
        callback_method=config.mtn_callback_method,
    )


def _api_refusal(request: web.Request, kind: Kind, world: World) -> web.Response | None:
    """What MTN answers before looking at an API call: a missing or bad token or key, another environment."""
    refused = _gateway_refusal(request, kind, token=True)
    if refused is not None:
        return refused
    if request.headers.get("X-Target-Environment") != world.config.mtn_target_environment:
        return _bad("NOT_ALLOWED_TARGET_ENVIRONMENT", "X-Target-Environment is not this environment")
    return None


def submit_handler(kind: Kind) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        world = request.app[WORLD]
        refused = _api_refusal(request, kind, world)
        if refused is not None:
            return refused
        reference = request.headers.get("X-Reference-Id", "")
        if not _is_uuid(reference):
            return _bad("RESOURCE_NOT_FOUND", "X-Reference-Id must be a UUID")
        data = await read_json(request)
        if data is None:
            return _bad("RESOURCE_NOT_FOUND", "the body must be a JSON object")
        txn = _parse_submit(request, kind, data)
        if isinstance(txn, web.Response):
            return txn
        if world.find(MTN, kind, reference) is not None:
            return json_response(
                error_body("RESOURCE_ALREADY_EXIST", "Duplicated reference id. Creation of resource failed."), 409
            )
        return await _run_submit(world, txn)

    return handler


async def _run_submit(world: World, txn: Txn) -> web.Response:
    decision = world.faults.decide_submit(Call(MTN, txn.kind, txn.msisdn, txn.external_id, txn.amount_ngwee))
    txn.plan = decision.plan
    fault = decision.submit
    if fault == "409":
        return json_response(error_body("RESOURCE_ALREADY_EXIST", "Duplicated reference id."), 409)
    if fault == "reject":
        return json_response(error_body(decision.reason, reason_text(decision.reason)), 400)
    if fault == "500":
        return json_response(error_body("INTERNAL_PROCESSING_ERROR", "An internal error occurred."), 500)
    if fault == "hang_unrecorded":
        await world.hold()
        return json_response(error_body("SERVICE_UNAVAILABLE", "Gateway timeout."), 504)
    world.record(txn)
    if fault == "500_recorded":
        return json_response(error_body("INTERNAL_PROCESSING_ERROR", "An internal error occurred."), 500)
    if fault == "hang":
        await world.hold()
    return web.Response(status=202)


def status_handler(kind: Kind) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        world = request.app[WORLD]
        refused = _api_refusal(request, kind, world)
        if refused is not None:
            return refused
        txn = world.find(MTN, kind, request.match_info["reference_id"])
        call = Call(MTN, kind, *((txn.msisdn, txn.external_id, txn.amount_ngwee) if txn else (None, None, None)))
        fault = world.faults.decide_status(call)
        if fault == "500":
            return json_response(error_body("INTERNAL_PROCESSING_ERROR", "An internal error occurred."), 500)
        if fault == "hang":
            await world.hold()
        if txn is None:
            return json_response(error_body("RESOURCE_NOT_FOUND", "Requested resource was not found."), 404)
        return json_response(status_body(txn, reason_as_object=world.config.mtn_reason_as_object))

    return handler


def add_routes(app: web.Application) -> None:
    for kind, (product, resource) in PATHS.items():
        app.router.add_post(f"/{product}/token/", token_handler(kind))
        app.router.add_post(f"/{product}/token", token_handler(kind))
        app.router.add_post(f"/{product}/v1_0/{resource}", submit_handler(kind))
        app.router.add_get(f"/{product}/v1_0/{resource}/{{reference_id}}", status_handler(kind))
