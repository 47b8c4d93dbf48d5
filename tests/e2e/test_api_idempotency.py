"""Idempotency-Key on the REST API (draft-ietf-httpapi-idempotency-key-header), on SQLite and PostgreSQL.

A client that lost an answer retries with the same key and gets the first
answer again; money moves once whatever happens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TypeVar

from engine.identity.ports import PinHasher
from tests.e2e.api_client import CHIPO, NATASHA, Api, new_key
from tests.e2e.conftest import World

T = TypeVar("T")


class HeldPinChecks:
    """The app's PIN hasher, except that checks wait until the test lets them through."""

    def __init__(self, inner: PinHasher) -> None:
        self._inner = inner
        self.waiting = asyncio.Event()
        self._go = asyncio.Event()

    def admit(self, max_wait_s: float | None) -> AbstractContextManager[None]:
        return self._inner.admit(max_wait_s)

    async def run(self, fn: Callable[[], T]) -> T:
        self.waiting.set()
        await self._go.wait()
        return await self._inner.run(fn)

    def release(self) -> None:
        self._go.set()


async def purchases(world: World, token: str) -> set[str]:
    """The references of the user's purchases from clusters (the demo users have made some already)."""
    statement = await Api(world).call("GET", "/wallet/statement", auth=token)
    return {line["reference"] for line in statement.data if line["kind"] == "cluster_purchase"}


async def test_a_purchase_without_a_key_is_refused_and_buys_nothing(world: World) -> None:
    api = Api(world)
    token = await api.sign_in(CHIPO)
    before = await api.wallet(token)

    quote_id = await api.quote(token, 1000)

    answer = await api.call(
        "POST", "/clusters/lsk-kabulonga-micro/purchases", auth=token, json={"quote_id": quote_id, "pin": "5173"}
    )

    assert (answer.status, answer.code) == (400, "IDEMPOTENCY_KEY_MISSING")
    assert await api.wallet(token) == before


async def test_a_retry_gets_the_first_answer_and_money_moves_once(world: World) -> None:
    api = Api(world)
    token = await api.sign_in(CHIPO)
    before, earlier = await api.wallet(token), await purchases(world, token)
    key, quote_id = new_key(), await api.quote(token, 200)

    first = await api.buy(token, 200, key=key, quote_id=quote_id)
    retry = await api.buy(token, 200, key=key, quote_id=quote_id)

    assert first.status == retry.status == 201
    assert retry.body == first.body
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert await purchases(world, token) - earlier == {first.data["reference"]}
    assert (await api.wallet(token))["money"]["ngwee"] == before["money"]["ngwee"] - first.data["cost"]["ngwee"]


async def test_the_same_key_for_another_request_is_refused(world: World) -> None:
    api = Api(world)
    token = await api.sign_in(CHIPO)
    earlier = await purchases(world, token)
    key = new_key()
    assert (await api.buy(token, 200, key=key)).status == 201

    other = await api.buy(token, 300, key=key)

    assert (other.status, other.code) == (422, "IDEMPOTENCY_KEY_REUSED")
    assert len(await purchases(world, token) - earlier) == 1


async def test_a_retry_while_the_first_request_runs_is_told_to_wait(world: World) -> None:
    api = Api(world)
    token = await api.sign_in(CHIPO)
    earlier = await purchases(world, token)
    held = HeldPinChecks(world.platform.users.hasher)
    world.platform.users.hasher = held
    key, quote_id = new_key(), await api.quote(token, 200)

    first = asyncio.create_task(api.buy(token, 200, key=key, quote_id=quote_id))
    await asyncio.wait_for(held.waiting.wait(), timeout=10)  # the first holds the key, checking the PIN
    second = await api.buy(token, 200, key=key, quote_id=quote_id)
    held.release()
    done = await first

    assert (second.status, second.code) == (409, "IDEMPOTENCY_KEY_IN_PROGRESS")
    assert done.status == 201
    third = await api.buy(token, 200, key=key, quote_id=quote_id)
    assert third.body == done.body
    assert await purchases(world, token) - earlier == {done.data["reference"]}


async def test_concurrent_requests_with_one_key_run_once(world: World) -> None:
    api = Api(world)
    token = await api.sign_in(CHIPO)
    earlier = await purchases(world, token)
    key, quote_id = new_key(), await api.quote(token, 200)

    answers = await asyncio.gather(*(api.buy(token, 200, key=key, quote_id=quote_id) for _ in range(5)))

    assert {a.status for a in answers} <= {201, 409}
    succeeded = {a.data["reference"] for a in answers if a.status == 201}
    assert len(succeeded) == 1
    assert await purchases(world, token) - earlier == succeeded


async def test_a_refusal_is_the_first_answer_too(world: World) -> None:
    api = Api(world)
    token = await api.sign_in(NATASHA)
    key, quote_id = new_key(), await api.quote(token, 100_000)
    refused = await api.buy(token, 100_000, key=key, quote_id=quote_id)  # about K115: far more than she has
    assert (refused.status, refused.code) == (422, "INSUFFICIENT_FUNDS")

    retry = await api.buy(token, 100_000, key=key, quote_id=quote_id)

    assert retry.status == 422
    assert retry.body == refused.body


async def test_keys_belong_to_their_caller(world: World) -> None:
    api = Api(world)
    chipo, natasha = await api.sign_in(CHIPO), await api.sign_in(NATASHA)
    key = new_key()

    mine, theirs = await api.buy(chipo, 200, key=key), await api.buy(natasha, 200, key=key)

    assert mine.status == theirs.status == 201
    assert mine.data["reference"] != theirs.data["reference"]
