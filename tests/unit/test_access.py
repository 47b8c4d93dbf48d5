"""The access context's pure rules: scopes, credentials' hashes, idempotency keys and operation ids."""

from __future__ import annotations

import pytest

from engine.access.cache import PrincipalCache
from engine.access.credentials import API_KEY_PREFIX, USER_TOKEN_PREFIX, CredentialHasher, new_secret
from engine.access.idempotency import check_key, operation_id
from engine.access.model import Principal, Scope, granted
from engine.access.service import AccessService
from engine.identity.model import User
from engine.kernel.errors import Forbidden, InvalidRequest, PinChangeRequired
from engine.kernel.language import Language


def test_admin_carries_partner_and_read_and_a_user_token_only_itself() -> None:
    assert granted(frozenset({Scope.ADMIN})) == {Scope.ADMIN, Scope.PARTNER, Scope.READ}
    assert granted(frozenset({Scope.PARTNER})) == {Scope.PARTNER, Scope.READ}
    assert granted(frozenset({Scope.USER})) == {Scope.USER}
    assert granted(frozenset()) == frozenset()


def test_a_credential_is_stored_as_a_keyed_hash_that_depends_on_the_pepper() -> None:
    secret = new_secret(API_KEY_PREFIX)
    one, other = CredentialHasher(b"pepper-one-0123456789"), CredentialHasher(b"pepper-two-0123456789")
    assert secret.startswith("enk_")
    assert len(secret) > 40
    assert one.hash(secret) == one.hash(secret)
    assert secret not in one.hash(secret)
    assert one.hash(secret) != other.hash(secret)
    assert new_secret(USER_TOKEN_PREFIX) != new_secret(USER_TOKEN_PREFIX)


def test_a_fingerprint_tells_apart_every_split_of_the_same_bytes() -> None:
    hasher = CredentialHasher(b"pepper-one-0123456789")
    assert hasher.fingerprint(b"POST", b"/ab") != hasher.fingerprint(b"POST/", b"ab")
    assert hasher.fingerprint(b"a", b"b") == hasher.fingerprint(b"a", b"b")


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "naïve", "tab\there"])
def test_an_idempotency_key_must_be_short_visible_ascii(key: str) -> None:
    with pytest.raises(InvalidRequest):
        check_key(key)


def test_the_operation_id_is_the_same_for_every_retry_and_differs_by_caller() -> None:
    first = operation_id("user:1", "k-1", "buy")
    assert first == operation_id("user:1", "k-1", "buy")
    assert first != operation_id("user:2", "k-1", "buy")
    assert first != operation_id("user:1", "k-2", "buy")
    assert first.startswith("api-buy-")


def _user(*, pin_must_change: bool = False) -> User:
    return User(
        id=1,
        phone="+260977000001",
        name="A B",
        language=Language.ENGLISH,
        pin_hash="x",
        pin_must_change=pin_must_change,
    )


def test_authorize_needs_one_of_the_scopes_and_a_chosen_pin() -> None:
    user = Principal(frozenset({Scope.USER}), user=_user())
    AccessService.authorize(user, frozenset({Scope.USER, Scope.ADMIN}))
    with pytest.raises(Forbidden):
        AccessService.authorize(user, frozenset({Scope.ADMIN}))
    reset = Principal(frozenset({Scope.USER}), user=_user(pin_must_change=True))
    with pytest.raises(PinChangeRequired):
        AccessService.authorize(reset, frozenset({Scope.USER}))
    AccessService.authorize(reset, frozenset({Scope.USER}), choosing_pin=True)


def test_a_remembered_sign_in_lasts_seconds_and_never_past_its_token() -> None:
    cache = PrincipalCache(keep_s=2, max_entries=2)
    someone = Principal(frozenset({Scope.USER}), user=_user())
    cache.put("t1", someone, now_us=0, token_expires_at=10_000_000)
    assert cache.get("t1", 1_999_999) is someone
    assert cache.get("t1", 2_000_000) is None
    cache.put("t2", someone, now_us=0, token_expires_at=1_000)
    assert cache.get("t2", 1_000) is None


def test_remembered_sign_ins_are_bounded_and_forgotten_by_token_or_user() -> None:
    cache = PrincipalCache(keep_s=60, max_entries=2)
    someone = Principal(frozenset({Scope.USER}), user=_user())
    for token in ("a", "b", "c"):
        cache.put(token, someone, now_us=0, token_expires_at=10**12)
    assert cache.get("a", 1) is None  # the oldest made room
    cache.forget_token("b")
    assert cache.get("b", 1) is None
    assert cache.get("c", 1) is someone
    cache.forget_user(1)
    assert cache.get("c", 1) is None
