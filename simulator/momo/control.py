"""Fault control and the provider's own view, under ``/_sim/`` (JSON).

- ``POST /_sim/rules`` (a rule, see ``faults``) -> ``{"id": n}``; ``GET /_sim/rules``; ``DELETE /_sim/rules``
- ``POST /_sim/chaos`` ``{"seed": 7, "fail": 0.2, "lose_callback": 0.1, ...}`` (all zero: off)
- ``GET /_sim/transactions[?provider=mtn&kind=collection]`` -> ``{"transactions": [...]}``
- ``GET /_sim/statement.csv?provider=mtn|airtel`` -> text/csv
- ``GET /_sim/approvals?msisdn=+2609...`` -> ``{"approvals": [...]}`` (collections waiting on that handset)
- ``POST /_sim/approvals/{referenceId}`` ``{"approve": true|false}`` -> the transaction (404 if none waits)
- ``POST /_sim/tokens/revoke``: every issued access token stops working (the next call answers 401)
- ``GET /_sim/balances`` -> each provider's merchant wallet in ngwee
- ``POST /_sim/reset``: transactions, rules, chaos and wallets back to the start; held responses released
  (issued tokens stay valid)
"""

from __future__ import annotations

from aiohttp import web

from simulator.momo.faults import BadControl, parse_chaos
from simulator.momo.keys import TOKENS, WORLD, json_response, read_json
from simulator.momo.model import PROVIDERS, ZAMBIAN_MOBILE
from simulator.momo.statement import statement_csv


def _bad(message: str) -> web.Response:
    return json_response({"error": message}, 400)


async def add_rule(request: web.Request) -> web.Response:
    data = await read_json(request)
    if data is None:
        return _bad("the body must be a JSON object")
    try:
        rule = request.app[WORLD].faults.add_rule(data)
    except BadControl as exc:
        return _bad(str(exc))
    return json_response({"id": rule.id}, 201)


async def list_rules(request: web.Request) -> web.Response:
    return json_response({"rules": [r.to_json() for r in request.app[WORLD].faults.rules]})


async def clear_rules(request: web.Request) -> web.Response:
    request.app[WORLD].faults.rules.clear()
    return json_response({"rules": []})


async def chaos(request: web.Request) -> web.Response:
    data = await read_json(request)
    if data is None:
        return _bad("the body must be a JSON object")
    try:
        request.app[WORLD].faults.chaos = parse_chaos(data)
    except BadControl as exc:
        return _bad(str(exc))
    return json_response({"chaos": request.app[WORLD].faults.chaos is not None})


async def transactions(request: web.Request) -> web.Response:
    provider, kind = request.query.get("provider"), request.query.get("kind")
    found = [
        t.to_json()
        for t in request.app[WORLD].transactions()
        if (provider is None or t.provider == provider) and (kind is None or t.kind == kind)
    ]
    return json_response({"transactions": found})


async def statement(request: web.Request) -> web.Response:
    provider = request.query.get("provider", "")
    if provider not in PROVIDERS:
        return _bad("provider must be mtn or airtel")
    world = request.app[WORLD]
    text = statement_csv(provider, world.transactions(), world.config)
    return web.Response(text=text, content_type="text/csv", charset="utf-8")


async def approvals(request: web.Request) -> web.Response:
    msisdn = request.query.get("msisdn", "").strip().replace(" ", "+")  # a bare + in a query reads as a space
    if not ZAMBIAN_MOBILE.match(msisdn):
        return _bad("msisdn must be a Zambian mobile number in E.164 (+2609XXXXXXXX)")
    waiting = request.app[WORLD].pending_approvals(msisdn)
    return json_response({"approvals": [t.to_json() for t in waiting]})


async def answer(request: web.Request) -> web.Response:
    data = await read_json(request)
    approve = data.get("approve") if data is not None else None
    if not isinstance(approve, bool):
        return _bad('the body must be {"approve": true} or {"approve": false}')
    txn = request.app[WORLD].answer(request.match_info["reference_id"], approve)
    if txn is None:
        return json_response({"error": "no collection waits for approval under that reference id"}, 404)
    return json_response(txn.to_json())


async def revoke_tokens(request: web.Request) -> web.Response:
    return json_response({"revoked": request.app[TOKENS].revoke_all()})


async def balances(request: web.Request) -> web.Response:
    return json_response({"balances_ngwee": dict(request.app[WORLD].balances)})


async def reset(request: web.Request) -> web.Response:
    await request.app[WORLD].reset()
    return json_response({"reset": True})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/_sim/rules", add_rule)
    app.router.add_get("/_sim/rules", list_rules)
    app.router.add_delete("/_sim/rules", clear_rules)
    app.router.add_post("/_sim/chaos", chaos)
    app.router.add_get("/_sim/transactions", transactions)
    app.router.add_get("/_sim/statement.csv", statement)
    app.router.add_get("/_sim/approvals", approvals)
    app.router.add_post("/_sim/approvals/{reference_id}", answer)
    app.router.add_post("/_sim/tokens/revoke", revoke_tokens)
    app.router.add_get("/_sim/balances", balances)
    app.router.add_post("/_sim/reset", reset)
