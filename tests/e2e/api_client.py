"""Talking to the REST API of an app under test, as a partner's or a user's client would.

Not a test module: the API tests share it (tests/e2e/test_api_*.py). Every
answer is checked to be an envelope before a test looks at it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from engine.access.model import Scope
from tests.e2e.conftest import World
from ussd_server.demo import DEMO_PIN

PREFIX = "/api/v1"
# Demo users (ussd_server/demo.py): Mwila has energy to sell; Chipo and Natasha have money.
MWILA, CHIPO, NATASHA = "+260977123456", "+260966234567", "+260955345678"
CLUSTER = "lsk-kabulonga-micro"  # K1.15 per kWh


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def data(self) -> Any:
        assert self.body["success"] is True, f"expected success, got {self.status} {self.body}"
        return self.body["data"]

    @property
    def code(self) -> str:
        assert self.body["success"] is False, f"expected an error, got {self.status} {self.body}"
        return str(self.body["error"]["code"])

    @property
    def details(self) -> dict[str, Any]:
        return dict(self.body["error"]["details"])


def new_key() -> str:
    return str(uuid.uuid4())


class Api:
    def __init__(self, world: World) -> None:
        self.world = world
        self.client = world.client

    async def call(
        self,
        method: str,
        path: str,
        *,
        auth: str | None = None,
        json: Any = None,
        key: str | None = None,
        headers: dict[str, str] | None = None,
        data: bytes | str | None = None,
    ) -> Answer:
        sent = dict(headers or {})
        if auth is not None:
            sent["Authorization"] = f"Bearer {auth}"
        if key is not None:
            sent["Idempotency-Key"] = key
        async with self.client.request(method, PREFIX + path, json=json, data=data, headers=sent) as response:
            assert response.content_type == "application/json", f"{method} {path}: {response.content_type}"
            body = await response.json()
            assert isinstance(body, dict), body
            assert isinstance(body.get("success"), bool), body
            return Answer(response.status, body, dict(response.headers))

    async def api_key(self, *scopes: Scope, name: str = "test partner") -> str:
        """A new key's secret (made as an operator would, through the service the CLI uses)."""
        issued = await self.world.platform.access.create_api_key(name, set(scopes))
        return issued.secret

    async def sign_in(self, phone: str, pin: str = DEMO_PIN) -> str:
        answer = await self.call("POST", "/session", json={"phone": phone, "pin": pin})
        assert answer.status == 201, answer.body
        return str(answer.data["token"])

    async def wallet(self, token: str) -> dict[str, Any]:
        answer = await self.call("GET", "/wallet", auth=token)
        assert answer.status == 200, answer.body
        return dict(answer.data)

    async def quote(self, token: str, wh: int, *, cluster: str = CLUSTER) -> str:
        """A quote's id: the price a purchase of ``wh`` from the cluster will pay, held for a minute."""
        answer = await self.call("POST", f"/clusters/{cluster}/quotes", auth=token, json={"wh": wh})
        assert answer.status == 201, answer.body
        return str(answer.data["id"])

    async def buy(
        self, token: str, wh: int, *, key: str | None = None, pin: str = DEMO_PIN, quote_id: str | None = None
    ) -> Answer:
        """Buy ``wh`` from the cluster at a quoted price (a new quote unless ``quote_id`` is given, as a retry must)."""
        quote_id = quote_id or await self.quote(token, wh)
        return await self.call(
            "POST",
            f"/clusters/{CLUSTER}/purchases",
            auth=token,
            json={"quote_id": quote_id, "pin": pin},
            key=key or new_key(),
        )
