"""The access context's repositories, written once for SQLite and PostgreSQL (engine.access.ports)."""

from __future__ import annotations

from engine.access.model import ApiKey, IdempotencyRecord, UserToken
from engine.identity.model import User
from storage.dialect import Executor, sql
from storage.tables import API_IDEMPOTENCY, API_KEYS, API_TOKENS, USERS

_KEY_BY_HASH = sql(f"SELECT {API_KEYS.select} FROM api_keys WHERE key_hash = $1")
_KEY_BY_ID = sql(f"SELECT {API_KEYS.select} FROM api_keys WHERE id = $1")
_KEYS = sql(f"SELECT {API_KEYS.select} FROM api_keys ORDER BY created_at, id")
# Every request of a signed-in user: one primary-key lookup joined to the user.
_TOKEN_USER = sql(
    f"SELECT {API_TOKENS.select_as('t')}, {USERS.select_as('u')} FROM api_tokens AS t "
    "JOIN users AS u ON u.id = t.user_id WHERE t.token_hash = $1 AND t.expires_at > $2"
)
_TOKEN_WIDTH = len(API_TOKENS.columns)
_INSERT_KEY = sql(API_KEYS.insert)
_REVOKE_KEY = sql("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at = 0")
_INSERT_TOKEN = sql(API_TOKENS.insert)
_DELETE_TOKEN = sql("DELETE FROM api_tokens WHERE token_hash = $1")
_DELETE_USER_TOKENS = sql("DELETE FROM api_tokens WHERE user_id = $1")
_DELETE_EXPIRED_TOKENS = sql("DELETE FROM api_tokens WHERE expires_at <= $1")

# ON CONFLICT: of two transactions claiming one key at once, PostgreSQL makes the
# second wait for the first and then insert nothing; no error aborts either.
_CLAIM = sql(f"{API_IDEMPOTENCY.insert} ON CONFLICT (principal, key) DO NOTHING")
_FOR_UPDATE = sql(f"SELECT {API_IDEMPOTENCY.select} FROM api_idempotency WHERE principal = $1 AND key = $2 FOR UPDATE")
_REPLACED = API_IDEMPOTENCY.names[2:]  # every column but the key
_REPLACE = sql(
    f"UPDATE api_idempotency SET {API_IDEMPOTENCY.assignments(_REPLACED, first=3)} WHERE principal = $1 AND key = $2"
)
_DELETE = sql("DELETE FROM api_idempotency WHERE principal = $1 AND key = $2")
_DELETE_EXPIRED = sql("DELETE FROM api_idempotency WHERE expires_at <= $1")


class CredentialReads:
    """engine.access.ports.CredentialReader over one executor."""

    def __init__(self, db: Executor) -> None:
        self._db = db

    async def api_key_by_hash(self, key_hash: str) -> ApiKey | None:
        row = await self._db.fetch_one(_KEY_BY_HASH, key_hash)
        return API_KEYS.record(row) if row is not None else None

    async def api_key_by_id(self, key_id: str) -> ApiKey | None:
        row = await self._db.fetch_one(_KEY_BY_ID, key_id)
        return API_KEYS.record(row) if row is not None else None

    async def list_api_keys(self) -> list[ApiKey]:
        return [API_KEYS.record(r) for r in await self._db.fetch(_KEYS)]

    async def token_user(self, token_hash: str, *, now_us: int) -> tuple[UserToken, User] | None:
        row = await self._db.fetch_one(_TOKEN_USER, token_hash, now_us)
        if row is None:
            return None
        values = tuple(row)
        return API_TOKENS.record(values[:_TOKEN_WIDTH]), USERS.record(values[_TOKEN_WIDTH:])


class CredentialRepository(CredentialReads):
    """engine.access.ports.CredentialWriter inside one open transaction."""

    async def insert_api_key(self, key: ApiKey) -> None:
        await self._db.execute(_INSERT_KEY, *API_KEYS.values(key))

    async def revoke_api_key(self, key_id: str, *, now_us: int) -> bool:
        return await self._db.execute(_REVOKE_KEY, key_id, now_us) == 1

    async def insert_token(self, token: UserToken) -> None:
        await self._db.execute(_INSERT_TOKEN, *API_TOKENS.values(token))

    async def delete_token(self, token_hash: str) -> bool:
        return await self._db.execute(_DELETE_TOKEN, token_hash) == 1

    async def delete_user_tokens(self, user_id: int) -> int:
        return await self._db.execute(_DELETE_USER_TOKENS, user_id)

    async def delete_expired_tokens(self, *, now_us: int) -> int:
        return await self._db.execute(_DELETE_EXPIRED_TOKENS, now_us)


class IdempotencyRepository:
    """engine.access.ports.IdempotencyWriter inside one open transaction."""

    def __init__(self, db: Executor) -> None:
        self._db = db

    async def insert_idempotency(self, record: IdempotencyRecord) -> bool:
        return await self._db.execute(_CLAIM, *API_IDEMPOTENCY.values(record)) == 1

    async def idempotency_for_update(self, principal: str, key: str) -> IdempotencyRecord | None:
        row = await self._db.fetch_one(_FOR_UPDATE, principal, key)
        return API_IDEMPOTENCY.record(row) if row is not None else None

    async def replace_idempotency(self, record: IdempotencyRecord) -> None:
        await self._db.execute(_REPLACE, *API_IDEMPOTENCY.values(record))

    async def delete_idempotency(self, principal: str, key: str) -> None:
        await self._db.execute(_DELETE, principal, key)

    async def delete_expired_idempotency(self, *, now_us: int) -> int:
        return await self._db.execute(_DELETE_EXPIRED, now_us)
