"""Who is calling, and what they may do: API keys, users' sign-in tokens, idempotency records.

A USSD caller is identified by the carrier (the phone number arrives with the
call). Any other entry point must be told who is calling: an operator's or a
partner's API key with scopes, or a token a user got by signing in with their
number and PIN. Neither is ever stored: only a keyed hash of it is
(:mod:`engine.access.credentials`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from engine.identity.model import User


class Scope(enum.StrEnum):
    ADMIN = "admin"  # operators: everything a key may do
    PARTNER = "partner"  # partners who verify numbers: register users, and read
    READ = "read"  # dashboards: platform-wide figures and the clusters
    USER = "user"  # a signed-in user: their own data; moving money or energy also needs their PIN


KEY_SCOPES = (Scope.ADMIN, Scope.PARTNER, Scope.READ)
# A scope carries the ones below it, so a route names the least it needs.
_IMPLIED: dict[Scope, frozenset[Scope]] = {
    Scope.ADMIN: frozenset({Scope.ADMIN, Scope.PARTNER, Scope.READ}),
    Scope.PARTNER: frozenset({Scope.PARTNER, Scope.READ}),
    Scope.READ: frozenset({Scope.READ}),
    Scope.USER: frozenset({Scope.USER}),
}


def granted(scopes: frozenset[Scope]) -> frozenset[Scope]:
    """Every scope that ``scopes`` carry (``admin`` carries ``partner`` and ``read``)."""
    return frozenset().union(*(_IMPLIED[s] for s in scopes)) if scopes else frozenset()


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An operator's or partner's key; ``key_hash`` is the keyed hash of the secret shown once at creation."""

    id: str  # public, e.g. "key_7f3a9c2e1b4d"; what the CLI lists and revokes
    name: str  # who holds it ("Lusaka agents")
    scopes: frozenset[Scope]
    key_hash: str = field(repr=False)
    created_at: int = 0
    revoked_at: int = 0  # 0: in use

    @property
    def active(self) -> bool:
        return self.revoked_at == 0


@dataclass(frozen=True, slots=True)
class UserToken:
    """A user signed in with number and PIN; valid until ``expires_at`` unless revoked (deleted) first."""

    token_hash: str = field(repr=False)
    user_id: int = 0
    created_at: int = 0
    expires_at: int = 0


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request is from: an API key, or a user through their token."""

    scopes: frozenset[Scope]
    key: ApiKey | None = None
    user: User | None = None

    @property
    def name(self) -> str:
        """Stable across sign-ins and keys' lifetimes: what idempotency keys are scoped to."""
        if self.user is not None:
            return f"user:{self.user.id}"
        return f"key:{self.key.id}" if self.key is not None else "anonymous"


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key: ApiKey
    secret: str = field(repr=False)  # shown once; only its hash is kept


@dataclass(frozen=True, slots=True)
class IssuedToken:
    user: User
    expires_at: int
    secret: str = field(repr=False)  # given to the user once; only its hash is kept


class IdempotencyState(enum.StrEnum):
    RUNNING = "running"  # the first request is being processed (or died: see ``locked_until``)
    DONE = "done"  # its response is kept to answer retries


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """One caller's idempotency key: which request it belongs to and, once answered, the answer."""

    principal: str
    key: str
    fingerprint: str  # keyed hash of the request (method, path, body): a reuse for another request is refused
    state: IdempotencyState
    created_at: int
    locked_until: int  # a running request not finished by then died: a retry may take its place
    expires_at: int  # forgotten after this (24 h)
    status: int = 0  # the response kept, once DONE
    body: str = ""


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    body: str
