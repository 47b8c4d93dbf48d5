"""The Airtel Money Africa API: OAuth2 token, collections (USSD push) and disbursements.

- ``POST /auth/oauth2/token``: JSON ``{client_id, client_secret, grant_type:
  client_credentials}`` -> ``{access_token, expires_in, token_type: bearer}``.
- ``POST /merchant/v1/payments/``: ``X-Country``, ``X-Currency``, Bearer;
  body ``{reference, subscriber: {country, currency, msisdn}, transaction:
  {amount, country, currency, id}}`` (msisdn without the country code).
- ``GET /standard/v1/payments/{id}``: ``data.transaction`` with ``status``
  TS/TF/TIP, ``airtel_money_id`` and ``message``.
- ``POST /standard/v1/disbursements/``: ``{payee: {msisdn, wallet_type},
  reference, pin, transaction: {amount, id, type: B2C}}``;
  ``GET /standard/v1/disbursements/{id}``.

A reused transaction id is refused: ESB000041 for a collection,
DP00900001011 for a disbursement.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from simulator.momo import airtel_wire as wire
from simulator.momo.auth import same
from simulator.momo.faults import Call
from simulator.momo.keys import TOKENS, WORLD, json_response, read_json
from simulator.momo.model import AIRTEL, COLLECTION, DISBURSEMENT, Kind, Txn, reason_text
from simulator.momo.money import format_amount, parse_amount
from simulator.momo.world import World

SCOPE = "airtel"
_MSISDN = re.compile(r"^(?:[59][5-8]|7[5-9])\d{7}$")
_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

Handler = Callable[[web.Request], Awaitable[web.Response]]


async def token(request: web.Request) -> web.Response:
    config = request.app[WORLD].config
    data = await read_json(request) or {}
    client_id, secret = data.get("client_id"), data.get("client_secret")
    if (
        data.get("grant_type") != "client_credentials"
        or not isinstance(client_id, str)
        or not isinstance(secret, str)
        or not (same(client_id, config.airtel_client_id) and same(secret, config.airtel_client_secret))
    ):
        return json_response({"error_description": "Invalid client authentication", "error": "invalid_client"}, 401)
    issued = request.app[TOKENS].issue(SCOPE, config.airtel_token_ttl_s)
    # Airtel sends expires_in as a string.
    return json_response({"access_token": issued, "expires_in": str(config.airtel_token_ttl_s), "token_type": "bearer"})


def _refusal(request: web.Request) -> web.Response | None:
    if not request.app[TOKENS].valid(request, SCOPE):
        return json_response(
            {"error_description": "The access token is invalid or has expired", "error": "invalid_token"}, 401
        )
    config = request.app[WORLD].config
    country, currency = request.headers.get("X-Country"), request.headers.get("X-Currency")
    if not country or not currency:
        return json_response(wire.error(400, "Missing header/body params", result="ROUTER003"), 400)
    if country != config.country:
        return json_response(wire.error(400, "Invalid Country", result="ROUTER006"), 400)
    if currency != config.currency:
        return json_response(wire.error(400, "Invalid Currency", result="ROUTER112"), 400)
    return None


def _parse(kind: Kind, data: dict[str, object], world: World) -> Txn | web.Response:
    config = world.config
    bad_amount = {"collection": "DP00800001004", "disbursement": "DP00900001004"}[kind]
    transaction = data.get("transaction")
    party = data.get("subscriber" if kind == COLLECTION else "payee")
    if not isinstance(transaction, dict) or not isinstance(party, dict):
        return json_response(wire.error(400, "Missing header/body params", result="ROUTER003"), 400)
    reference, txn_id = data.get("reference"), transaction.get("id")
    if not isinstance(txn_id, str) or not _ID.match(txn_id) or not isinstance(reference, str):
        return json_response(
            wire.error(400, "Field validation: transaction.id", result=wire.RESULT_FIELD_VALIDATION), 400
        )
    amount = parse_amount(transaction.get("amount"))
    if amount is None or amount == 0:
        message = "Invalid Amount: the amount must be greater than zero, with at most 2 decimal places"
        return json_response(wire.error(400, message, result=wire.RESULT_FIELD_VALIDATION, response=bad_amount), 400)
    msisdn = party.get("msisdn")
    if not isinstance(msisdn, str) or not _MSISDN.match(msisdn):
        message = "Invalid MSISDN Length. MSISDN Length should be 9"
        response = "DP00900001012" if kind == DISBURSEMENT else ""
        return json_response(wire.error(400, message, result=wire.RESULT_BAD_MSISDN, response=response), 400)
    if kind == DISBURSEMENT:
        pin = data.get("pin")
        expected = config.airtel_disbursement_pin
        if not isinstance(pin, str) or not pin or (expected is not None and not same(pin, expected)):
            return json_response(
                wire.error(400, "Incorrect Encrypted Pin", result="ROUTER116", response="DP00900001013"), 400
            )
    return Txn(
        provider=AIRTEL,
        kind=kind,
        reference_id=txn_id,
        external_id=reference,
        msisdn="+260" + msisdn,
        amount_ngwee=amount,
        amount_text=format_amount(amount),
        currency=config.currency,
    )


def submit_handler(kind: Kind) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        refused = _refusal(request)
        if refused is not None:
            return refused
        world = request.app[WORLD]
        data = await read_json(request)
        if data is None:
            return json_response(wire.error(400, "Missing header/body params", result="ROUTER003"), 400)
        txn = _parse(kind, data, world)
        if isinstance(txn, web.Response):
            return txn
        if world.find(AIRTEL, kind, txn.reference_id) is not None:
            return _duplicate(kind)
        return await _run_submit(world, txn)

    return handler


def _duplicate(kind: Kind) -> web.Response:
    if kind == COLLECTION:
        body = wire.error(400, "External Transaction ID already exists.", result=wire.DUPLICATE_COLLECTION)
    else:
        message = "Transaction with similar information already exists in this system."
        body = wire.error(400, message, result=wire.RESULT_FAILED, response=wire.DUPLICATE_DISBURSEMENT)
    return json_response(body, 400)


def _server_error() -> web.Response:
    return json_response(wire.error(500, "Something went wrong", result=wire.RESULT_SOMETHING_WRONG), 500)


async def _run_submit(world: World, txn: Txn) -> web.Response:
    decision = world.faults.decide_submit(Call(AIRTEL, txn.kind, txn.msisdn, txn.external_id, txn.amount_ngwee))
    txn.plan = decision.plan
    fault = decision.submit
    if fault == "409":
        return _duplicate(txn.kind)
    if fault == "reject":
        response, result, _ = wire.failure_code(txn.kind, decision.reason)
        return json_response(wire.error(400, reason_text(decision.reason), result=result, response=response), 400)
    if fault == "500":
        return _server_error()
    if fault == "hang_unrecorded":
        await world.hold()
        return json_response(wire.error(504, "Request Timeout", result="ROUTER117"), 504)
    world.record(txn)
    if fault == "500_recorded":
        return _server_error()
    if fault == "hang":
        await world.hold()
    in_process = wire.IN_PROCESS_CODE[txn.kind]
    block = wire.status_block(200, "SUCCESS", success=True, result=wire.RESULT_SUCCESS, response=in_process)
    return json_response({"data": {"transaction": {"id": txn.reference_id, "status": "TIP"}}, "status": block})


def status_handler(kind: Kind) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        refused = _refusal(request)
        if refused is not None:
            return refused
        world = request.app[WORLD]
        txn = world.find(AIRTEL, kind, request.match_info["id"])
        call = Call(AIRTEL, kind, *((txn.msisdn, txn.external_id, txn.amount_ngwee) if txn else (None, None, None)))
        fault = world.faults.decide_status(call)
        if fault == "500":
            return _server_error()
        if fault == "hang":
            await world.hold()
        if txn is None:
            message = "No Transaction Found With Provided Transaction Id."
            body = wire.error(404, message, result=wire.RESULT_NOT_FOUND, response=wire.NOT_FOUND_CODE[kind])
            return json_response(body, 404)
        return json_response(wire.enquiry_body(txn))

    return handler


def add_routes(app: web.Application) -> None:
    app.router.add_post("/auth/oauth2/token", token)
    for path, kind in (("/merchant/v1/payments", COLLECTION), ("/standard/v1/disbursements", DISBURSEMENT)):
        app.router.add_post(path + "/", submit_handler(kind))
        app.router.add_post(path, submit_handler(kind))
    app.router.add_get("/standard/v1/payments/{id}", status_handler(COLLECTION))
    app.router.add_get("/standard/v1/disbursements/{id}", status_handler(DISBURSEMENT))
