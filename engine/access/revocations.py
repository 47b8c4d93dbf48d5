"""A user's tokens die with their PIN: a changed or reset PIN signs them out everywhere.

A reset is how an operator hands an account back after a SIM swap or a
forgotten PIN; whoever held a token before it must not keep using it. Handled
in the transaction that changes the PIN, so the two never disagree.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from engine.access.cache import PrincipalCache
from engine.access.ports import CredentialWriter
from engine.identity.events import PinChanged, PinReset
from engine.kernel.events import EventBus, EventSource


class HasCredentials(EventSource, Protocol):
    @property
    def credentials(self) -> CredentialWriter: ...


U = TypeVar("U", bound=HasCredentials)


class TokenRevocations:
    def __init__(self, principals: PrincipalCache) -> None:
        self._principals = principals  # this process's remembered sign-ins: forgotten at once too

    def subscribe(self, bus: EventBus[U]) -> None:
        bus.subscribe(PinChanged, self.pin_changed)
        bus.subscribe(PinReset, self.pin_reset)

    async def pin_changed(self, event: PinChanged, uow: HasCredentials) -> None:
        await self._revoke(event.user.id, uow)

    async def pin_reset(self, event: PinReset, uow: HasCredentials) -> None:
        await self._revoke(event.user.id, uow)

    async def _revoke(self, user_id: int, uow: HasCredentials) -> None:
        await uow.credentials.delete_user_tokens(user_id)
        # Forgotten before the transaction commits: at worst a rolled-back change costs a lookup.
        self._principals.forget_user(user_id)
