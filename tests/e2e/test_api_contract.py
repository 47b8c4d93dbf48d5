"""The API keeps its contract: docs/openapi.json is what the code generates, and the live app honours it.

Schemathesis generates requests from the document (valid ones and invalid
ones) and checks every answer: never a 5xx, a status the document lists, a
body matching its schema, a 405 for a method it does not list. Examples are
few and derandomized, so the run is short and the same every time.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from engine.access.model import Scope
from tests.e2e.api_client import Api
from tests.e2e.conftest import World, running_app
from tests.support.phones import unique_phone
from tests.support.redis import redis_url
from ussd_server.api.openapi import document, render

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
EXAMPLES = 10  # per operation and mode
PIN = "4827"
SIGN_OUTS = EXAMPLES * 4  # a fresh token for every sign-out schemathesis tries
# A request the schema accepts may still be refused by the rules (422): a weak PIN has the schema's
# four digits, a number of the right shape may not be a Zambian mobile, a balance may be short.
CONFIG = schemathesis.Config.from_dict(
    {"checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"]}}}
)


def test_the_committed_openapi_document_is_what_the_code_generates() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == render(document()), (
        "docs/openapi.json is out of date: run `make openapi` (python -m ussd_server.api.openapi docs/openapi.json)"
    )


def test_every_operation_of_the_document_loads() -> None:
    schema = schemathesis.openapi.from_dict(document())
    operations = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
    assert len(operations) == sum(len(methods) for methods in document()["paths"].values())


class Credentials:
    """Who schemathesis calls each operation as: a key of the scope it names, or a user of its own."""

    def __init__(self, admin: str, read: str, users: dict[str, str], sign_outs: list[str]) -> None:
        self.admin, self.read, self.users = admin, read, users
        self._sign_outs: Iterator[str] = itertools.chain(sign_outs, itertools.repeat("ent_used-up"))

    def for_operation(self, operation_id: str, scopes: list[str]) -> str | None:
        if operation_id == "sign_out":
            return next(self._sign_outs)
        if "user" in scopes:
            return self.users[operation_id]
        if "read" in scopes:
            return self.read
        return self.admin if scopes else None


@pytest.fixture
async def contract_world(database_url: str) -> AsyncIterator[World]:
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url(), "API_SIGN_IN_FAILURES_PER_MINUTE": "10000"}
    async with running_app(env) as world:
        yield world


async def _credentials(world: World) -> Credentials:
    api = Api(world)
    users: dict[str, str] = {}
    for path in document()["paths"].values():
        for operation in path.values():
            # Each operation its own user: wrong PINs tried on one must not lock the others out.
            phone = unique_phone()
            await world.platform.users.register(phone=phone, name="Contract Test", language="en", pin=PIN)
            users[operation["operationId"]] = await api.sign_in(phone, PIN)
    phone = unique_phone()
    await world.platform.users.register(phone=phone, name="Contract Test", language="en", pin=PIN)
    sign_outs = [await api.sign_in(phone, PIN) for _ in range(SIGN_OUTS)]
    return Credentials(await api.api_key(Scope.ADMIN), await api.api_key(Scope.READ), users, sign_outs)


def _check(
    operation: Any, mode: GenerationMode, base_url: str, session: requests.Session, credentials: Credentials
) -> None:
    raw: dict[str, Any] = operation.definition.raw
    credential = credentials.for_operation(raw["operationId"], raw["x-scopes"])

    @hypothesis.settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def check(case: schemathesis.Case[Any]) -> None:
        token = (
            credentials.for_operation(raw["operationId"], raw["x-scopes"])
            if raw["operationId"] == "sign_out"
            else credential
        )
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        case.call_and_validate(base_url=base_url, session=session, headers=headers)

    check()


def _run(base_url: str, credentials: Credentials) -> list[str]:
    """Every operation, valid and invalid requests; returns what failed (run off the event loop: it blocks)."""
    schema = schemathesis.openapi.from_dict(document(), config=CONFIG)
    failures: list[str] = []
    with requests.Session() as session:
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), result  # every operation of our own document loads
            operation = result.ok()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    _check(operation, mode, base_url, session, credentials)
                except Exception as exc:  # every operation is tried; all failures are reported together
                    failures.append(f"{operation.label} ({mode.value}): {type(exc).__name__}: {exc}"[:3000])
    return failures


async def test_the_live_app_honours_its_openapi_document(contract_world: World) -> None:
    credentials = await _credentials(contract_world)
    base_url = str(contract_world.client.make_url("/api/v1"))

    failures = await asyncio.to_thread(_run, base_url, credentials)

    assert not failures, "\n\n".join(failures)
