"""What the identity context needs from a database."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Protocol, TypeVar

from engine.identity.model import User
from engine.kernel.language import Language
from engine.kernel.ports import CounterWriter
from engine.kernel.unit_of_work import RecordsEvents, Units
from engine.ledger.ports import LedgerWriter

T = TypeVar("T")


class UserReader(Protocol):
    async def user_by_phone(self, phone: str) -> User | None: ...

    async def user_by_id(self, user_id: int) -> User | None: ...

    async def users_by_ids(self, user_ids: Sequence[int]) -> dict[int, User]:
        """The users among ``user_ids`` that exist, by id (one read for many, e.g. a statement's names)."""
        ...

    async def list_users(self, *, limit: int, offset: int = 0) -> list[User]: ...

    async def count_users(self) -> int: ...

    async def count_users_by_language(self) -> dict[Language, int]: ...


class UserWriter(UserReader, Protocol):
    async def insert_user(self, *, phone: str, name: str, language: Language, pin_hash: str) -> User:
        """Raises :class:`engine.errors.AlreadyRegistered` if the phone is taken."""
        ...

    async def update_user(self, user: User) -> None:
        """Persist name, language, PIN hash and KYC tier (never the PIN-failure counters)."""
        ...

    async def user_for_update(self, user_id: int) -> User | None:
        """The user as stored now, locked until the transaction ends (concurrent PIN attempts queue here)."""
        ...

    async def save_pin_state(self, user: User) -> None:
        """Persist the PIN state: failure counts, lock and its stage, must-change flag and outflow hold."""
        ...


class PinHasher(Protocol):
    """Where the slow PIN KDF runs (off the event loop), and the bound on how long a check may queue.

    The process's adapter (a thread pool sized to the cores) is made when the
    app starts and closed when it stops; see ``ussd_server/kdf_pool.py``.
    """

    def admit(self, max_wait_s: float | None) -> AbstractContextManager[None]:
        """Hold a place in the queue for one KDF run, or raise :class:`engine.kernel.errors.PinBusy`.

        ``None`` waits without bound. Nothing must be counted against the
        caller before this succeeds: a caller refused as busy used no try.
        """
        ...

    async def run(self, fn: Callable[[], T]) -> T:
        """Run one KDF call (``fn``) off the event loop and return its result."""
        ...


class IdentityUnit(RecordsEvents, Protocol):
    """What the identity services touch inside one transaction."""

    @property
    def users(self) -> UserWriter: ...

    @property
    def ledger(self) -> LedgerWriter: ...

    @property
    def counters(self) -> CounterWriter: ...


class IdentityReads(Protocol):
    @property
    def users(self) -> UserReader: ...


IdentityUnits = Units[IdentityUnit, IdentityReads]
