"""The shape every context's unit of work shares: run work in one transaction, or read committed data.

Each bounded context declares, in its own ``ports`` module, the repositories
its services need inside a transaction (its *unit*) and outside one (its
*reads*), and types its services with ``Units[ItsUnit, ItsReads]``. The
composition in :mod:`engine.uow` satisfies every one of them structurally, so
a context never depends on the others' repositories, nor on the composition.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from engine.kernel.events import DomainEvent

T = TypeVar("T")
U = TypeVar("U", covariant=True)
R = TypeVar("R", covariant=True)


class RecordsEvents(Protocol):
    def record(self, event: DomainEvent) -> None:
        """Note that ``event`` happened; its handlers run before the unit of work commits."""
        ...


class Units(Protocol[U, R]):
    """Units of work of type ``U``; committed reads of type ``R``."""

    @property
    def reads(self) -> R: ...

    async def run(self, work: Callable[[U], Awaitable[T]]) -> T:
        """Run ``work`` (and its events' handlers) in one transaction: all of it commits, or none."""
        ...
