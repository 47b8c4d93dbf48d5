"""What the access context needs from a database: credentials and idempotency records."""

from __future__ import annotations

from typing import Protocol

from engine.access.model import ApiKey, IdempotencyRecord, UserToken
from engine.identity.model import User
from engine.kernel.unit_of_work import RecordsEvents, Units


class CredentialReader(Protocol):
    async def api_key_by_hash(self, key_hash: str) -> ApiKey | None:
        """The key whose secret hashes to ``key_hash``, revoked or not (one indexed lookup)."""
        ...

    async def api_key_by_id(self, key_id: str) -> ApiKey | None: ...

    async def list_api_keys(self) -> list[ApiKey]:
        """Every key, revoked ones too, oldest first."""
        ...

    async def token_user(self, token_hash: str, *, now_us: int) -> tuple[UserToken, User] | None:
        """The token whose secret hashes to ``token_hash`` if it has not expired at ``now_us``, with its user.

        One indexed lookup (joined to the user): this runs on every request a signed-in user makes.
        """
        ...


class CredentialWriter(CredentialReader, Protocol):
    async def insert_api_key(self, key: ApiKey) -> None: ...

    async def revoke_api_key(self, key_id: str, *, now_us: int) -> bool:
        """Mark the key revoked at ``now_us``; False if there is no such key or it was revoked already."""
        ...

    async def insert_token(self, token: UserToken) -> None: ...

    async def delete_token(self, token_hash: str) -> bool:
        """Revoke one token (sign-out); False if it did not exist."""
        ...

    async def delete_user_tokens(self, user_id: int) -> int:
        """Revoke every token of a user (their PIN changed); returns how many."""
        ...

    async def delete_expired_tokens(self, *, now_us: int) -> int: ...


class IdempotencyWriter(Protocol):
    async def insert_idempotency(self, record: IdempotencyRecord) -> bool:
        """Insert ``record``; False (nothing written) if the caller's key has a record already.

        Two transactions inserting the same (principal, key) at once: exactly one succeeds.
        """
        ...

    async def idempotency_for_update(self, principal: str, key: str) -> IdempotencyRecord | None:
        """The record as stored now, locked until the transaction ends."""
        ...

    async def replace_idempotency(self, record: IdempotencyRecord) -> None:
        """Overwrite the record for (``record.principal``, ``record.key``) with every field of ``record``."""
        ...

    async def delete_idempotency(self, principal: str, key: str) -> None: ...

    async def delete_expired_idempotency(self, *, now_us: int) -> int:
        """Forget records whose ``expires_at`` has passed; returns how many."""
        ...


class AccessUnit(RecordsEvents, Protocol):
    """What the access services touch inside one transaction."""

    @property
    def credentials(self) -> CredentialWriter: ...

    @property
    def idempotency(self) -> IdempotencyWriter: ...


class AccessReads(Protocol):
    @property
    def credentials(self) -> CredentialReader: ...


AccessUnits = Units[AccessUnit, AccessReads]
