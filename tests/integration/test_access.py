"""API keys, sign-in tokens and idempotency records on every backend, with the clock under the test's control."""

from __future__ import annotations

import asyncio

import pytest

from engine.access.cache import KEEP_S
from engine.access.idempotency import LEASE_S, operation_id
from engine.access.model import Scope, StoredResponse
from engine.energy.model import ClusterKind
from engine.identity.model import User
from engine.kernel.clock import ManualClock
from engine.kernel.errors import (
    ApiKeyNotFound,
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    InvalidInput,
    PinNotVerified,
    Unauthenticated,
)
from engine.platform import Platform
from tests.support.phones import unique_phone

PIN = "4827"
TTL_S = 1800


async def _user(platform: Platform) -> User:
    return await platform.users.register(phone=unique_phone(), name="Test Person", language="en", pin=PIN)


async def test_an_api_key_works_until_revoked_and_its_secret_is_never_stored(platform: Platform) -> None:
    issued = await platform.access.create_api_key("Lusaka agents", {Scope.PARTNER})

    principal = await platform.access.authenticate(issued.secret)
    assert principal.scopes == {Scope.PARTNER, Scope.READ}
    listed = await platform.access.list_api_keys()
    assert [k.id for k in listed] == [issued.key.id]
    assert all(issued.secret not in repr(k) and k.key_hash != issued.secret for k in listed)

    revoked = await platform.access.revoke_api_key(issued.key.id)
    assert not revoked.active
    with pytest.raises(Unauthenticated):
        await platform.access.authenticate(issued.secret)
    with pytest.raises(ApiKeyNotFound):
        await platform.access.revoke_api_key("key_000000000000")
    with pytest.raises(InvalidInput):
        await platform.access.create_api_key("no scopes", set())


async def test_a_token_needs_a_fresh_pin_proof_and_lives_its_time(platform: Platform, clock: ManualClock) -> None:
    user = await _user(platform)
    proof = await platform.users.verify_pin(user, PIN)
    issued = await platform.access.sign_in(user, proof, ttl_s=TTL_S)

    principal = await platform.access.authenticate(issued.secret)
    assert principal.user is not None
    assert principal.user.id == user.id
    assert principal.name == f"user:{user.id}"
    clock.advance(TTL_S + 1)
    with pytest.raises(Unauthenticated):
        await platform.access.authenticate(issued.secret)
    with pytest.raises(PinNotVerified):  # the proof is stale by now
        await platform.access.sign_in(user, proof, ttl_s=TTL_S)
    assert await platform.access.forget_expired_tokens() == 1


async def test_a_changed_or_reset_pin_revokes_every_token(platform: Platform) -> None:
    user = await _user(platform)
    tokens = [
        await platform.access.sign_in(user, await platform.users.verify_pin(user, PIN), ttl_s=TTL_S) for _ in "ab"
    ]

    await platform.users.change_pin(await platform.users.verify_pin(user, PIN), new_pin="3691")
    for token in tokens:
        with pytest.raises(Unauthenticated):
            await platform.access.authenticate(token.secret)

    again = await platform.access.sign_in(user, await platform.users.verify_pin(user, "3691"), ttl_s=TTL_S)
    await platform.users.reset_pin(user)
    with pytest.raises(Unauthenticated):
        await platform.access.authenticate(again.secret)


async def test_signing_out_revokes_only_that_token(platform: Platform) -> None:
    user = await _user(platform)
    one = await platform.access.sign_in(user, await platform.users.verify_pin(user, PIN), ttl_s=TTL_S)
    two = await platform.access.sign_in(user, await platform.users.verify_pin(user, PIN), ttl_s=TTL_S)

    assert await platform.access.sign_out(one.secret) is True
    assert await platform.access.sign_out(one.secret) is False
    with pytest.raises(Unauthenticated):
        await platform.access.authenticate(one.secret)
    assert (await platform.access.authenticate(two.secret)).user is not None


async def test_an_idempotency_key_is_claimed_once_answered_once_and_refused_for_another_request(
    platform: Platform,
) -> None:
    keys = platform.idempotency
    same, other = keys.fingerprint(b"POST", b"/a", b"{1}"), keys.fingerprint(b"POST", b"/a", b"{2}")

    assert await keys.begin("user:1", "k", same) is None
    with pytest.raises(IdempotencyKeyInProgress):
        await keys.begin("user:1", "k", same)
    with pytest.raises(IdempotencyKeyReused):
        await keys.begin("user:1", "k", other)
    await keys.finish("user:1", "k", same, StoredResponse(201, '{"success":true}'))
    assert await keys.begin("user:1", "k", same) == StoredResponse(201, '{"success":true}')
    assert await keys.begin("user:2", "k", other) is None  # keys are per caller


async def test_only_one_of_concurrent_claims_wins(platform: Platform) -> None:
    keys = platform.idempotency
    fingerprint = keys.fingerprint(b"POST", b"/a", b"{}")

    results = await asyncio.gather(*(keys.begin("user:1", "k", fingerprint) for _ in range(8)), return_exceptions=True)

    assert results.count(None) == 1
    assert all(isinstance(r, IdempotencyKeyInProgress) for r in results if r is not None)


async def test_an_abandoned_claim_can_be_retried_at_once(platform: Platform) -> None:
    keys = platform.idempotency
    fingerprint = keys.fingerprint(b"POST", b"/a", b"{}")
    assert await keys.begin("user:1", "k", fingerprint) is None

    await keys.abandon("user:1", "k", fingerprint)

    assert await keys.begin("user:1", "k", fingerprint) is None


async def test_a_retry_after_a_crash_reapplies_the_same_ledger_operation(
    platform: Platform, clock: ManualClock
) -> None:
    """The first request bought and died before its answer was stored: the retry buys nothing more."""
    await platform.clusters.create(
        cluster_id="test-cluster",
        name="Test",
        kind=ClusterKind.MICRO,
        region="Lusaka",
        capacity_wh=10_000,
        price_ngwee_per_kwh=100,
    )
    user = await _user(platform)
    principal, key = f"user:{user.id}", "retry-me"
    fingerprint = platform.idempotency.fingerprint(b"POST", b"/clusters/test-cluster/purchases", b"{}")
    operation = operation_id(principal, key, "buy")
    assert await platform.idempotency.begin(principal, key, fingerprint) is None
    first = await platform.clusters.buy(buyer=user, cluster_id="test-cluster", wh=1000, operation_id=operation)
    # ... the process dies here, before the answer is kept.

    with pytest.raises(IdempotencyKeyInProgress):
        await platform.idempotency.begin(principal, key, fingerprint)
    clock.advance(LEASE_S + 1)
    assert await platform.idempotency.begin(principal, key, fingerprint) is None  # the retry takes over
    again = await platform.clusters.buy(buyer=user, cluster_id="test-cluster", wh=1000, operation_id=operation)

    assert again.replayed
    assert again.reference == first.reference
    assert (await platform.wallet.balances(user)).wh == 1000


async def test_expired_records_are_forgotten_and_their_key_is_new_again(platform: Platform, clock: ManualClock) -> None:
    keys = platform.idempotency
    one, two = keys.fingerprint(b"1"), keys.fingerprint(b"2")
    assert await keys.begin("user:1", "k", one) is None
    await keys.finish("user:1", "k", one, StoredResponse(200, "{}"))
    clock.advance(24 * 3600 + 1)

    assert await keys.begin("user:1", "k", two) is None  # a day later the key means a new request
    clock.advance(24 * 3600 + 1)
    assert await keys.forget_expired() == 1


async def test_a_token_revoked_by_another_process_stops_working_within_seconds(
    platform: Platform, clock: ManualClock
) -> None:
    user = await _user(platform)
    issued = await platform.access.sign_in(user, await platform.users.verify_pin(user, PIN), ttl_s=TTL_S)
    assert (await platform.access.authenticate(issued.secret)).user is not None  # now remembered here

    other_process = Platform(platform.store, platform.config, platform.users.hasher, clock)
    assert await other_process.access.sign_out(issued.secret)

    assert (await platform.access.authenticate(issued.secret)).user is not None  # still remembered
    clock.advance(KEEP_S)
    with pytest.raises(Unauthenticated):
        await platform.access.authenticate(issued.secret)
