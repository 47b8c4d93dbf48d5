"""The identity context's repository, written once for SQLite and PostgreSQL (engine.identity.ports)."""

from __future__ import annotations

from collections.abc import Sequence

from engine.identity.model import Language, User
from engine.kernel.clock import Clock
from engine.kernel.errors import AlreadyRegistered
from storage.dialect import Executor, sql
from storage.tables import PIN_STATE, USERS

_BY_PHONE = sql(f"SELECT {USERS.select} FROM users WHERE phone = $1")
_BY_ID = sql(f"SELECT {USERS.select} FROM users WHERE id = $1")
_BY_IDS = sql(f"SELECT {USERS.select} FROM users WHERE id = ANY($1::bigint[])")
# The row lock serialises concurrent PIN attempts on one user until the transaction ends
# (SQLite's writer holds the whole database already).
_FOR_UPDATE = sql(f"SELECT {USERS.select} FROM users WHERE id = $1 FOR UPDATE")
_LIST = sql(f"SELECT {USERS.select} FROM users ORDER BY id LIMIT $1 OFFSET $2")
_COUNT = sql("SELECT COUNT(*) FROM users")
_BY_LANGUAGE = sql("SELECT language, COUNT(*) FROM users GROUP BY language")
# ON CONFLICT instead of catching the unique violation: on PostgreSQL an error
# would abort the whole unit of work, which the caller may want to carry on.
_INSERT = sql(
    "INSERT INTO users (phone, name, language, pin_hash, created_at) VALUES ($1, $2, $3, $4, $5) "
    f"ON CONFLICT (phone) DO NOTHING RETURNING {USERS.select}"
)
_UPDATE = sql("UPDATE users SET name = $1, language = $2, pin_hash = $3, kyc_tier = $4 WHERE id = $5")
_SAVE_PIN_STATE = sql(f"UPDATE users SET {USERS.assignments(PIN_STATE)} WHERE id = ${len(PIN_STATE) + 1}")
_pin_state = USERS.getter(*PIN_STATE)


class UserReads:
    """engine.identity.ports.UserReader over one executor."""

    def __init__(self, db: Executor) -> None:
        self._db = db

    async def user_by_phone(self, phone: str) -> User | None:
        row = await self._db.fetch_one(_BY_PHONE, phone)
        return USERS.record(row) if row is not None else None

    async def user_by_id(self, user_id: int) -> User | None:
        row = await self._db.fetch_one(_BY_ID, user_id)
        return USERS.record(row) if row is not None else None

    async def users_by_ids(self, user_ids: Sequence[int]) -> dict[int, User]:
        if not user_ids:
            return {}
        users = (USERS.record(r) for r in await self._db.fetch(_BY_IDS, list(user_ids)))
        return {u.id: u for u in users}

    async def list_users(self, *, limit: int, offset: int = 0) -> list[User]:
        return [USERS.record(r) for r in await self._db.fetch(_LIST, limit, offset)]

    async def count_users(self) -> int:
        row = await self._db.fetch_one(_COUNT)
        assert row is not None
        return int(row[0])

    async def count_users_by_language(self) -> dict[Language, int]:
        return {Language(r[0]): int(r[1]) for r in await self._db.fetch(_BY_LANGUAGE)}


class UserRepository(UserReads):
    """engine.identity.ports.UserWriter inside one open transaction."""

    def __init__(self, db: Executor, clock: Clock) -> None:
        super().__init__(db)
        self._clock = clock

    async def insert_user(self, *, phone: str, name: str, language: Language, pin_hash: str) -> User:
        row = await self._db.fetch_one(_INSERT, phone, name, str(language), pin_hash, self._clock.now_us())
        if row is None:
            raise AlreadyRegistered("phone already registered", phone=phone)
        return USERS.record(row)

    async def update_user(self, user: User) -> None:
        await self._db.execute(_UPDATE, user.name, str(user.language), user.pin_hash, user.kyc_tier, user.id)

    async def user_for_update(self, user_id: int) -> User | None:
        row = await self._db.fetch_one(_FOR_UPDATE, user_id)
        return USERS.record(row) if row is not None else None

    async def save_pin_state(self, user: User) -> None:
        await self._db.execute(_SAVE_PIN_STATE, *_pin_state(user), user.id)
