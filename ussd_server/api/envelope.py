"""The one response shape: ``{"success": true, "data": ..., "meta"?: ...}`` or ``{"success": false, "error": ...}``.

Bodies are serialised in one pass by pydantic-core (models, lists of models
and plain values alike); nothing here is a float unless a model says so, and
none does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic_core import to_json

JSON = "application/json"

Data = BaseModel | Sequence[BaseModel] | None


def ok_body(data: Data, meta: BaseModel | None = None) -> bytes:
    body: dict[str, Any] = {"success": True, "data": data}
    if meta is not None:
        body["meta"] = meta
    return to_json(body)


def error_body(code: str, message: str, details: Mapping[str, int | str | bool]) -> bytes:
    return to_json({"success": False, "error": {"code": code, "message": message, "details": dict(details)}})


def json_response(body: bytes, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=body, status=status, content_type=JSON, headers=headers)
