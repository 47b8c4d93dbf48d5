"""The access repositories' contract (API keys, sign-in tokens, idempotency records) on every backend."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from engine.access.model import ApiKey, IdempotencyRecord, IdempotencyState, Scope, UserToken
from engine.identity.model import Language, User
from engine.uow import Database, Repositories
from tests.conftest import StoreOpener
from tests.integration.conftest import ALL_BACKENDS

pytestmark = ALL_BACKENDS

# engine.uow.Repositories and Database do not name the access repositories (yet); every backend has them.


async def register(store: Database, phone: str) -> User:
    return await store.atomic(
        lambda r: r.users.insert_user(phone=phone, name="Mwila Banda", language=Language.BEMBA, pin_hash="h")
    )


async def insert_api_key(store: Database, key: ApiKey) -> None:
    async def work(repositories: Repositories) -> None:
        await repositories.credentials.insert_api_key(key)

    await store.atomic(work)


async def insert_token(store: Database, token: UserToken) -> None:
    async def work(repositories: Repositories) -> None:
        await repositories.credentials.insert_token(token)

    await store.atomic(work)


async def test_api_keys_are_found_by_hash_listed_oldest_first_and_revoked_once(store: Database) -> None:
    admin = ApiKey("key_b", "Operators", frozenset({Scope.ADMIN}), "hash-b", created_at=10)
    partner = ApiKey("key_a", "Lusaka agents", frozenset({Scope.PARTNER, Scope.READ}), "hash-a", created_at=20)
    for key in (partner, admin):
        await insert_api_key(store, key)
    assert await store.credentials.api_key_by_hash("hash-a") == partner
    assert await store.credentials.api_key_by_hash("nope") is None
    assert await store.credentials.api_key_by_id("key_b") == admin
    assert await store.credentials.list_api_keys() == [admin, partner]
    assert await store.atomic(lambda r: r.credentials.revoke_api_key("key_a", now_us=99))
    assert not await store.atomic(lambda r: r.credentials.revoke_api_key("key_a", now_us=100))
    assert not await store.atomic(lambda r: r.credentials.revoke_api_key("key_x", now_us=100))
    assert await store.credentials.api_key_by_id("key_a") == replace(partner, revoked_at=99)


async def test_tokens_name_their_user_until_they_expire_or_are_deleted(store: Database) -> None:
    mwila, chipo = await register(store, "+260977000001"), await register(store, "+260966000002")
    tokens = [
        UserToken("t1", mwila.id, created_at=1, expires_at=100),
        UserToken("t2", mwila.id, created_at=1, expires_at=200),
        UserToken("t3", chipo.id, created_at=1, expires_at=300),
    ]
    for token in tokens:
        await insert_token(store, token)
    assert await store.credentials.token_user("t1", now_us=99) == (tokens[0], mwila)
    assert await store.credentials.token_user("t1", now_us=100) is None, "expired"
    assert await store.credentials.token_user("t9", now_us=0) is None
    assert await store.atomic(lambda r: r.credentials.delete_expired_tokens(now_us=100)) == 1
    assert await store.atomic(lambda r: r.credentials.delete_user_tokens(mwila.id)) == 1
    assert await store.credentials.token_user("t2", now_us=0) is None
    assert await store.atomic(lambda r: r.credentials.delete_token("t3"))
    assert not await store.atomic(lambda r: r.credentials.delete_token("t3"))


async def test_an_idempotency_key_is_claimed_once_then_replaced_and_forgotten(store: Database) -> None:
    claim = IdempotencyRecord("user:1", "k1", "fp", IdempotencyState.RUNNING, 10, 20, 1000)
    assert await store.atomic(lambda r: r.idempotency.insert_idempotency(claim))
    assert not await store.atomic(lambda r: r.idempotency.insert_idempotency(replace(claim, fingerprint="other")))
    done = replace(claim, state=IdempotencyState.DONE, status=201, body='{"ok":true}', locked_until=15)
    await store.atomic(lambda r: r.idempotency.replace_idempotency(done))
    assert await store.atomic(lambda r: r.idempotency.idempotency_for_update("user:1", "k1")) == done
    assert await store.atomic(lambda r: r.idempotency.idempotency_for_update("user:2", "k1")) is None
    later = replace(claim, key="k2", expires_at=2000)
    await store.atomic(lambda r: r.idempotency.insert_idempotency(later))
    assert await store.atomic(lambda r: r.idempotency.delete_expired_idempotency(now_us=1000)) == 1
    await store.atomic(lambda r: r.idempotency.delete_idempotency("user:1", "k2"))
    assert await store.atomic(lambda r: r.idempotency.idempotency_for_update("user:1", "k2")) is None


async def test_concurrent_claims_of_one_key_let_exactly_one_through(
    store: Database, open_test_store: StoreOpener
) -> None:
    stores = [store, *[await open_test_store() for _ in range(3)]]
    claim = IdempotencyRecord("key:key_a", "pay-1", "fp", IdempotencyState.RUNNING, 10, 20, 1000)
    won = await asyncio.gather(
        *(stores[n % 4].atomic(lambda r: r.idempotency.insert_idempotency(claim)) for n in range(12))
    )
    assert won.count(True) == 1
