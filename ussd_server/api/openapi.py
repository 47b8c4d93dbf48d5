"""The OpenAPI 3.1 document, generated from the route table and the pydantic models.

``docs/openapi.json`` is this document, committed; a test checks the two
agree. After changing a route or a model, write it again::

    python -m ussd_server.api.openapi docs/openapi.json      (make openapi)
    python -m ussd_server.api.openapi --check docs/openapi.json
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ussd_server.api.models.common import ErrorEnvelope, PageMeta
from ussd_server.api.routes import PREFIX, ROUTES
from ussd_server.api.routing import IDEMPOTENCY_HEADER, Idempotency, Route

VERSION = "1.0.0"
REF = "#/components/schemas/{model}"
DESCRIPTIONS = {
    400: "The request does not match this document (`INVALID_REQUEST`, `IDEMPOTENCY_KEY_MISSING`)",
    401: "No credential, or an unknown, expired or revoked one (`UNAUTHENTICATED`, `INVALID_CREDENTIALS`)",
    403: "The credential lacks the scope (`FORBIDDEN`)",
    404: "Not found (`*_NOT_FOUND`)",
    409: "Already so, or the Idempotency-Key's first request is still running",
    413: "The body is too large",
    415: "The body is not application/json",
    422: "Refused by the rules (`INSUFFICIENT_FUNDS`, `WRONG_PIN`, `PIN_LOCKED`, `PAYMENT_LIMIT`...), a value the "
    "engine refuses (`INVALID_PHONE`, `WEAK_PIN`...), or an Idempotency-Key reused for another request",
    429: "A limit is used up (`DAILY_LIMIT`, `PIN_RATE_LIMITED`, `SIGN_IN_LIMITED`): see Retry-After",
    503: "Busy: nothing was done; try again after Retry-After",
}
INTRO = """The same services as the USSD menu, with the same rules and error codes.

**Envelope.** Every answer is `{"success": true, "data": ..., "meta"?: ...}` or
`{"success": false, "error": {"code", "message", "details"}}`. `code` is stable
(the engine's error code, upper case); `message` is for people. Money is integer
ngwee with its currency, energy integer Wh, prices ngwee per kWh: never floats.

**Who may call.** `Authorization: Bearer <credential>`. Operators and partners use
API keys (`enerlectra api-key create`) with scopes `admin` (carries `partner` and
`read`), `partner` (carries `read`) or `read`. A user signs in with number and PIN
(`POST /session`) for a short-lived token (scope `user`) that reads their own data;
moving money or energy also needs their PIN in that request. Each operation lists
the scopes that let a caller in (`x-scopes`: any one will do).

**Idempotency.** Every POST that moves money or energy needs an `Idempotency-Key`
header (draft-ietf-httpapi-idempotency-key-header): without it 400; the same key
with another request 422; while its first request runs 409; a retry gets the first
answer again (same status and body, header `Idempotent-Replayed: true`). Keys are
kept 24 hours, per caller.
"""


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _data_model(data: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model behind a route's ``data`` and whether it is a list of them."""
    if typing.get_origin(data) is list:
        (item,) = typing.get_args(data)
        return item, True
    return (data, False) if _is_model(data) else (None, False)


def _schemas(routes: Sequence[Route]) -> tuple[dict[Any, Any], dict[str, Any]]:
    models: list[tuple[type[BaseModel], Any]] = [(ErrorEnvelope, "serialization"), (PageMeta, "serialization")]
    for route in routes:
        if route.body is not None:
            models.append((route.body, "validation"))
        model, _ = _data_model(route.data)
        if model is not None:
            models.append((model, "serialization"))
    unique = list(dict.fromkeys(models))
    refs, definitions = models_json_schema(unique, ref_template=REF)
    schemas: dict[str, Any] = definitions.get("$defs", {})
    for schema in schemas.values():
        for prop in schema.get("properties", {}).values():
            if "default" in prop and prop["default"] is None and "anyOf" not in prop and prop.get("type") != "null":
                del prop["default"]  # an optional field whose null is not a value (left out instead)
    return refs, schemas


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or text: ``X | None`` is documented as X (and no title, no null default)."""
    options = [o for o in schema.get("anyOf", ()) if o != {"type": "null"}]
    shown = {k: v for k, v in schema.items() if k not in ("title", "anyOf") and not (k == "default" and v is None)}
    if len(options) == 1:
        return {**options[0], **shown}
    return {**shown, "anyOf": options} if options else shown


def _parameters(route: Route) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = []
    for name, pattern in route.path_patterns.items():
        parameters.append(
            {"name": name, "in": "path", "required": True, "schema": {"type": "string", "pattern": pattern}}
        )
    if route.query is not None:
        query = route.query.model_json_schema(ref_template=REF)
        required = set(query.get("required", ()))
        properties: dict[str, dict[str, Any]] = query["properties"]
        for name, prop in properties.items():
            parameters.append({"name": name, "in": "query", "required": name in required, "schema": _not_null(prop)})
    if route.idempotency is not Idempotency.NONE:
        parameters.append(
            {
                "name": IDEMPOTENCY_HEADER,
                "in": "header",
                "required": route.idempotency is Idempotency.REQUIRED,
                "description": "a key of your choosing (e.g. a UUID), the same for every retry of this request",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
            }
        )
    return parameters


def _error_statuses(route: Route) -> list[int]:
    statuses = {404, 422}
    if route.scopes is not None:
        statuses |= {401, 403}
    if route.body is not None or route.query is not None or route.path_patterns:
        statuses.add(400)
    if route.body is not None:
        statuses |= {413, 415}
    if route.idempotency is not Idempotency.NONE or route.path == "/users":
        statuses.add(409)
    if route.pin or route.path.startswith("/counterparts"):
        statuses |= {429, 503}
    if route.idempotency is not Idempotency.NONE:
        statuses.add(400)
    return sorted(statuses)


def _retry_after() -> dict[str, Any]:
    return {"Retry-After": {"required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}}}


def _operation(route: Route, refs: dict[Any, Any]) -> dict[str, Any]:
    model, many = _data_model(route.data)
    data: dict[str, Any] = {"type": "null"}
    if model is not None:
        one = refs[(model, "serialization")]
        data = {"type": "array", "items": one} if many else one
    success: dict[str, Any] = {
        "type": "object",
        "required": ["success", "data", *(["meta"] if route.paged else [])],
        "properties": {"success": {"const": True}, "data": data},
        "additionalProperties": False,
    }
    if route.paged:
        success["properties"]["meta"] = refs[(PageMeta, "serialization")]
    error = {"$ref": REF.format(model="ErrorEnvelope")}
    responses: dict[str, Any] = {
        str(route.status): {"description": route.summary, "content": {"application/json": {"schema": success}}}
    }
    for status in _error_statuses(route):
        responses[str(status)] = {
            "description": DESCRIPTIONS[status],
            "content": {"application/json": {"schema": error}},
        }
        if status in (429, 503):
            responses[str(status)]["headers"] = _retry_after()
    scopes = sorted(s.value for s in route.scopes) if route.scopes is not None else []
    operation: dict[str, Any] = {
        "operationId": route.run.__name__,
        "summary": route.summary,
        "tags": [route.tag],
        "x-scopes": scopes,
        "security": [{"bearer": []}] if route.scopes is not None else [],
        "responses": responses,
    }
    description = route.description
    if route.scopes is not None:
        description = f"Scopes (any one): {', '.join(f'`{s}`' for s in scopes)}. {description}".strip()
    if description:
        operation["description"] = description
    parameters = _parameters(route)
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(route.body, "validation")]}},
        }
    return operation


def document(routes: Sequence[Route] = ROUTES) -> dict[str, Any]:
    refs, schemas = _schemas(routes)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Enerlectra API", "version": VERSION, "description": INTRO},
        "servers": [{"url": PREFIX}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an API key (`enk_...`) or a user's sign-in token (`ent_...`)",
                }
            },
        },
    }


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


@functools.cache
def served() -> bytes:
    """The document as ``/api/v1/openapi.json`` serves it: built once per process (it depends on the code only)."""
    return render(document()).encode()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ussd_server.api.openapi", description=__doc__.split("\n")[0])
    parser.add_argument("path", type=Path, help="where the document lives (docs/openapi.json)")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from the code")
    args = parser.parse_args(argv)
    text = render(document())
    if args.check:
        current = args.path.read_text(encoding="utf-8") if args.path.exists() else ""
        if current != text:
            print(f"{args.path} is out of date: run make openapi", file=sys.stderr)
            return 1
        print(f"{args.path} is up to date")
        return 0
    args.path.parent.mkdir(parents=True, exist_ok=True)
    args.path.write_text(text, encoding="utf-8")
    print(f"wrote {args.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
