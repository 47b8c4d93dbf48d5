"""The unit of work: one database transaction, the repositories it reaches, the events it records.

Each bounded context declares the repositories it needs in its own ``ports``
module. Storage implements :class:`Database`; a service runs its work through
:class:`UnitsOfWork`, which gives the work a :class:`UnitOfWork` and, before
the transaction commits, hands the events it recorded to their handlers in the
same transaction. Everything commits together or not at all (a raised
exception rolls back), so a refused operation never leaves a partial write
and never an SMS about something that did not happen.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from engine.access.ports import CredentialReader, CredentialWriter, IdempotencyWriter
from engine.analytics.ports import UssdAnalytics
from engine.coops.ports import CoopReader, CoopWriter
from engine.energy.ports import ClusterReader, ClusterWriter
from engine.identity.ports import UserReader, UserWriter
from engine.kernel.events import DomainEvent, EventBus
from engine.kernel.ports import CounterReader, CounterWriter
from engine.ledger.ports import LedgerWriter
from engine.markets.ports import MarketReader, MarketWriter
from engine.notifications.ports import OutboxQueue, OutboxReader, OutboxWriter
from engine.payments.ports import PaymentReader, PaymentWriter, RiskSignals
from engine.scheduler.ports import JobQueue, JobWriter
from engine.trading.ports import OfferReader, OfferWriter

T = TypeVar("T")


class Repositories(Protocol):
    """What one database transaction can read and write, by context."""

    @property
    def ledger(self) -> LedgerWriter: ...

    @property
    def users(self) -> UserWriter: ...

    @property
    def clusters(self) -> ClusterWriter: ...

    @property
    def offers(self) -> OfferWriter: ...

    @property
    def outbox(self) -> OutboxWriter: ...

    @property
    def counters(self) -> CounterWriter: ...

    @property
    def credentials(self) -> CredentialWriter: ...

    @property
    def idempotency(self) -> IdempotencyWriter: ...

    @property
    def payments(self) -> PaymentWriter: ...

    @property
    def risk(self) -> RiskSignals: ...

    @property
    def coops(self) -> CoopWriter: ...

    @property
    def jobs(self) -> JobWriter: ...

    @property
    def markets(self) -> MarketWriter: ...


class Database(Protocol):
    """A database. Its repositories read committed data outside any transaction.

    The ledger's own write methods here each run in a transaction of their own
    (for audits and batch tools); services combine writes with :meth:`atomic`
    through :class:`UnitsOfWork`.
    """

    @property
    def backend(self) -> str: ...

    @property
    def ledger(self) -> LedgerWriter: ...

    @property
    def users(self) -> UserReader: ...

    @property
    def clusters(self) -> ClusterReader: ...

    @property
    def offers(self) -> OfferReader: ...

    @property
    def outbox(self) -> OutboxReader: ...

    @property
    def counters(self) -> CounterReader: ...

    @property
    def credentials(self) -> CredentialReader: ...

    @property
    def payments(self) -> PaymentReader: ...

    @property
    def coops(self) -> CoopReader: ...

    @property
    def markets(self) -> MarketReader: ...

    @property
    def outbox_queue(self) -> OutboxQueue: ...

    @property
    def job_queue(self) -> JobQueue: ...

    @property
    def analytics(self) -> UssdAnalytics: ...

    async def atomic(self, work: Callable[[Repositories], Awaitable[T]]) -> T:
        """Run ``work`` in one write transaction; commit if it returns, roll back if it raises.

        A backend may run ``work`` again after a transient conflict (deadlock,
        serialization failure), so ``work`` must not have side effects outside
        the transaction.
        """
        ...

    async def migrate(self) -> list[str]:
        """Apply pending schema migrations; returns the names applied."""
        ...

    async def close(self) -> None: ...


class UnitOfWork:
    """One transaction's repositories, and the domain events recorded in it."""

    __slots__ = (
        "_events",
        "clusters",
        "coops",
        "counters",
        "credentials",
        "idempotency",
        "jobs",
        "ledger",
        "markets",
        "offers",
        "outbox",
        "payments",
        "risk",
        "users",
    )

    def __init__(self, repositories: Repositories) -> None:
        self.ledger = repositories.ledger
        self.users = repositories.users
        self.clusters = repositories.clusters
        self.offers = repositories.offers
        self.outbox = repositories.outbox
        self.counters = repositories.counters
        self.credentials = repositories.credentials
        self.idempotency = repositories.idempotency
        self.payments = repositories.payments
        self.risk = repositories.risk
        self.coops = repositories.coops
        self.jobs = repositories.jobs
        self.markets = repositories.markets
        self._events: list[DomainEvent] = []

    def record(self, event: DomainEvent) -> None:
        """Note that ``event`` happened; its handlers run before this unit of work commits."""
        self._events.append(event)

    def take_events(self) -> list[DomainEvent]:
        events, self._events = self._events, []
        return events


class UnitsOfWork:
    """How services reach the database: a unit of work per operation, committed reads otherwise."""

    def __init__(self, database: Database, bus: EventBus[UnitOfWork]) -> None:
        self._database = database
        self._bus = bus

    @property
    def reads(self) -> Database:
        """Committed data, read outside any transaction (what a screen shows)."""
        return self._database

    async def run(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Run ``work`` and its events' handlers in one transaction (see :meth:`Database.atomic`)."""

        async def in_transaction(repositories: Repositories) -> T:
            uow = UnitOfWork(repositories)
            result = await work(uow)
            await self._bus.dispatch(uow)
            return result

        return await self._database.atomic(in_transaction)
