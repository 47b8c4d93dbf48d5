"""API keys for operators and partners, and sign-in tokens for users.

Rules:

- a credential is a random secret shown once; only its keyed hash is stored,
  so a copy of the database lets nobody call the platform;
- an API key carries scopes (``admin`` > ``partner`` > ``read``) and works
  until an operator revokes it;
- a user signs in with number and PIN: the PIN is checked by
  :meth:`UserService.verify_pin` (its lockout applies) and its proof must come
  with the sign-in, so no entry point can mint a token without a PIN check in
  the same request; the token lives ``ttl_s`` and dies at sign-out, or when the
  PIN is changed or reset (:mod:`engine.access.revocations`);
- a token only identifies its user: moving money or energy still needs the PIN
  in that same request, like on USSD;
- a user whose PIN is a one-time PIN from an operator reset may do nothing but
  choose a new one (as on USSD).
"""

from __future__ import annotations

from engine.access.cache import PrincipalCache
from engine.access.credentials import API_KEY_PREFIX, USER_TOKEN_PREFIX, CredentialHasher, new_key_id, new_secret
from engine.access.model import KEY_SCOPES, ApiKey, IssuedKey, IssuedToken, Principal, Scope, UserToken, granted
from engine.access.ports import AccessUnit, AccessUnits
from engine.identity.model import PinProof, User
from engine.identity.users import UserService
from engine.kernel.clock import MICROS_PER_SECOND, Clock
from engine.kernel.errors import (
    ApiKeyNotFound,
    Forbidden,
    InvalidInput,
    PinChangeRequired,
    PinNotVerified,
    Unauthenticated,
)

MAX_NAME_LENGTH = 80
# Longer than any secret we issue: a bigger header is refused before it is hashed.
MAX_CREDENTIAL_LENGTH = 128


class AccessService:
    def __init__(
        self,
        units: AccessUnits,
        clock: Clock,
        hasher: CredentialHasher,
        users: UserService,
        principals: PrincipalCache | None = None,
    ) -> None:
        self._units = units
        self._clock = clock
        self._hasher = hasher
        self._users = users
        self._principals = principals or PrincipalCache()

    # --- API keys (the CLI) ---------------------------------------------------------

    async def create_api_key(self, name: str, scopes: frozenset[Scope] | set[Scope]) -> IssuedKey:
        """A new key; its secret is in the result and nowhere else, ever."""
        name = " ".join(name.split())
        if not 1 <= len(name) <= MAX_NAME_LENGTH or not name.isprintable():
            raise InvalidInput(f"a key's name is 1 to {MAX_NAME_LENGTH} printable characters")
        if not scopes or not set(scopes) <= set(KEY_SCOPES):
            raise InvalidInput("a key needs one or more of the scopes admin, partner, read")
        secret = new_secret(API_KEY_PREFIX)
        key = ApiKey(
            id=new_key_id(),
            name=name,
            scopes=frozenset(scopes),
            key_hash=self._hasher.hash(secret),
            created_at=self._clock.now_us(),
        )

        async def work(uow: AccessUnit) -> None:
            await uow.credentials.insert_api_key(key)

        await self._units.run(work)
        return IssuedKey(key, secret)

    async def list_api_keys(self) -> list[ApiKey]:
        return await self._units.reads.credentials.list_api_keys()

    async def revoke_api_key(self, key_id: str) -> ApiKey:
        """Revoke a key at once (idempotent: revoking a revoked key changes nothing)."""
        now = self._clock.now_us()

        async def work(uow: AccessUnit) -> ApiKey:
            await uow.credentials.revoke_api_key(key_id, now_us=now)
            key = await uow.credentials.api_key_by_id(key_id)
            if key is None:
                raise ApiKeyNotFound("no API key with that id", key_id=key_id)
            return key

        return await self._units.run(work)

    # --- users' tokens -----------------------------------------------------------------

    async def sign_in(self, user: User, proof: PinProof, *, ttl_s: int) -> IssuedToken:
        """A token for ``user``, who proved their PIN in this request (``proof`` from verify_pin)."""
        if not self._users.proof_is_valid(proof, user):
            raise PinNotVerified("the PIN was not checked in this request")
        now = self._clock.now_us()
        secret = new_secret(USER_TOKEN_PREFIX)
        token = UserToken(self._hasher.hash(secret), user.id, now, now + ttl_s * MICROS_PER_SECOND)

        async def work(uow: AccessUnit) -> None:
            await uow.credentials.insert_token(token)

        await self._units.run(work)
        return IssuedToken(user, token.expires_at, secret)

    async def sign_out(self, secret: str) -> bool:
        """Revoke the token ``secret``; False if it was unknown (already signed out or expired)."""
        token_hash = self._hasher.hash(secret)
        self._principals.forget_token(token_hash)

        async def work(uow: AccessUnit) -> bool:
            return await uow.credentials.delete_token(token_hash)

        return await self._units.run(work)

    # --- every request ------------------------------------------------------------------

    async def authenticate(self, credential: str) -> Principal:
        """Who presents ``credential`` (an API key or a user's token); :class:`Unauthenticated` if nobody."""
        if len(credential) > MAX_CREDENTIAL_LENGTH:
            raise Unauthenticated("unknown credential")
        reads = self._units.reads.credentials
        if credential.startswith(API_KEY_PREFIX):
            key = await reads.api_key_by_hash(self._hasher.hash(credential))
            if key is None or not key.active:
                raise Unauthenticated("unknown or revoked API key")
            return Principal(granted(key.scopes), key=key)
        if credential.startswith(USER_TOKEN_PREFIX):
            token_hash, now = self._hasher.hash(credential), self._clock.now_us()
            principal = self._principals.get(token_hash, now)
            if principal is not None:
                return principal
            found = await reads.token_user(token_hash, now_us=now)
            if found is None:
                raise Unauthenticated("unknown or expired token: sign in again")
            token, user = found
            principal = Principal(frozenset({Scope.USER}), user=user)
            self._principals.put(token_hash, principal, now_us=now, token_expires_at=token.expires_at)
            return principal
        raise Unauthenticated("unknown credential")

    @staticmethod
    def authorize(principal: Principal, needs: frozenset[Scope], *, choosing_pin: bool = False) -> None:
        """Refuse ``principal`` unless it holds one of ``needs``.

        A user on a one-time PIN from an operator reset may only choose a new PIN
        (``choosing_pin``), as on USSD.
        """
        if not principal.scopes & needs:
            raise Forbidden("this credential does not allow that", needs=",".join(sorted(needs)))
        user = principal.user
        if user is not None and user.pin_must_change and not choosing_pin:
            raise PinChangeRequired("choose a new PIN first: yours is a one-time PIN")

    async def forget_expired_tokens(self) -> int:
        now = self._clock.now_us()

        async def work(uow: AccessUnit) -> int:
            return await uow.credentials.delete_expired_tokens(now_us=now)

        return await self._units.run(work)
