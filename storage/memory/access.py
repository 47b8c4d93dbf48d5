"""The in-memory credentials and idempotency records (engine.access.ports)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from engine.access.model import ApiKey, IdempotencyRecord, UserToken
from engine.identity.model import User
from storage.memory.ledger import ConstraintViolation
from storage.memory.tables import Tables


class MemoryCredentials:
    """engine.access.ports.CredentialWriter (its reads alone on a database's committed tables)."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def api_key_by_hash(self, key_hash: str) -> ApiKey | None:
        key_id = self._t.api_key_ids.get(key_hash)
        return self._t.api_keys.get(key_id) if key_id is not None else None

    async def api_key_by_id(self, key_id: str) -> ApiKey | None:
        return self._t.api_keys.get(key_id)

    async def list_api_keys(self) -> list[ApiKey]:
        return sorted(self._t.api_keys.values(), key=lambda k: (k.created_at, k.id))

    async def token_user(self, token_hash: str, *, now_us: int) -> tuple[UserToken, User] | None:
        token = self._t.api_tokens.get(token_hash)
        if token is None or token.expires_at <= now_us:
            return None
        user = self._t.users.get(token.user_id)
        return (token, user) if user is not None else None

    async def insert_api_key(self, key: ApiKey) -> None:
        if key.id in self._t.api_keys or key.key_hash in self._t.api_key_ids:
            raise ConstraintViolation(f"API key {key.id!r} or its hash exists")
        self._t.api_keys.put(key.id, key)
        self._t.api_key_ids.put(key.key_hash, key.id)

    async def revoke_api_key(self, key_id: str, *, now_us: int) -> bool:
        key = self._t.api_keys.get(key_id)
        if key is None or key.revoked_at != 0:
            return False
        self._t.api_keys.put(key_id, replace(key, revoked_at=now_us))
        return True

    async def insert_token(self, token: UserToken) -> None:
        if token.token_hash in self._t.api_tokens or token.user_id not in self._t.users:
            raise ConstraintViolation("token exists, or its user does not")
        self._t.api_tokens.put(token.token_hash, token)

    async def delete_token(self, token_hash: str) -> bool:
        if token_hash not in self._t.api_tokens:
            return False
        self._t.api_tokens.delete(token_hash)
        return True

    async def delete_user_tokens(self, user_id: int) -> int:
        return self._delete_tokens(lambda t: t.user_id == user_id)

    async def delete_expired_tokens(self, *, now_us: int) -> int:
        return self._delete_tokens(lambda t: t.expires_at <= now_us)

    def _delete_tokens(self, doomed: Callable[[UserToken], bool]) -> int:
        hashes = [h for h, t in self._t.api_tokens.items() if doomed(t)]
        for token_hash in hashes:
            self._t.api_tokens.delete(token_hash)
        return len(hashes)


class MemoryIdempotency:
    """engine.access.ports.IdempotencyWriter (one writer at a time: reading for update is locking)."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def insert_idempotency(self, record: IdempotencyRecord) -> bool:
        if (record.principal, record.key) in self._t.idempotency:
            return False
        self._t.idempotency.put((record.principal, record.key), record)
        return True

    async def idempotency_for_update(self, principal: str, key: str) -> IdempotencyRecord | None:
        return self._t.idempotency.get((principal, key))

    async def replace_idempotency(self, record: IdempotencyRecord) -> None:
        if (record.principal, record.key) in self._t.idempotency:  # an UPDATE: no row, no change
            self._t.idempotency.put((record.principal, record.key), record)

    async def delete_idempotency(self, principal: str, key: str) -> None:
        if (principal, key) in self._t.idempotency:
            self._t.idempotency.delete((principal, key))

    async def delete_expired_idempotency(self, *, now_us: int) -> int:
        keys = [k for k, r in self._t.idempotency.items() if r.expires_at <= now_us]
        for key in keys:
            self._t.idempotency.delete(key)
        return len(keys)
