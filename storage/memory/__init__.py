"""An in-memory database (standard library only): the fake for fast service tests.

It implements engine.uow.Database and Repositories with the real backends'
semantics and passes their contract suite (tests/integration): the ledger
through the same :class:`storage.ledger_ops.LedgerTransactionBase` rules,
READ COMMITTED reads, a unit of work that commits whole or not at all, one
writer at a time, and the schema's CHECK and UNIQUE constraints where a bug
could break them. ``open_store("memory:")`` opens a fresh one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from engine.kernel.clock import Clock
from engine.uow import Repositories
from storage.memory.access import MemoryCredentials, MemoryIdempotency
from storage.memory.coops import MemoryCoops
from storage.memory.jobs import MemoryJobQueue, MemoryJobs
from storage.memory.ledger import MemoryDatabaseLedger, MemoryLedger
from storage.memory.markets import MemoryMarkets
from storage.memory.outbox import MemoryAnalytics, MemoryOutbox, MemoryOutboxQueue
from storage.memory.payments import MemoryPayments, MemoryRisk
from storage.memory.repositories import MemoryClusters, MemoryCounters, MemoryOffers, MemoryUsers
from storage.memory.tables import MemoryData, Tables

T = TypeVar("T")

# memory://name databases: every store opened with a name shares its data, which
# outlives closing them (as a file would) until drop_memory_database().
_NAMED: dict[str, MemoryData] = {}


def _name(url: str) -> str:
    if not url.startswith("memory:"):
        raise ValueError("in-memory database URLs look like memory: or memory://name")
    return url[len("memory:") :].lstrip("/")


def drop_memory_database(url: str) -> None:
    """Forget a named in-memory database's data (any other URL: nothing to do)."""
    if url.startswith("memory:"):
        _NAMED.pop(_name(url), None)


class MemoryRepositories:
    """engine.uow.Repositories: one in-memory transaction's repositories."""

    __slots__ = (
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

    def __init__(self, tables: Tables, clock: Clock, max_batch: int) -> None:
        self.ledger = MemoryLedger(tables, clock, max_batch)
        self.users = MemoryUsers(tables, clock)
        self.clusters = MemoryClusters(tables)
        self.offers = MemoryOffers(tables)
        self.outbox = MemoryOutbox(tables, clock)
        self.counters = MemoryCounters(tables)
        self.credentials = MemoryCredentials(tables)
        self.idempotency = MemoryIdempotency(tables)
        self.payments = MemoryPayments(tables)
        self.risk = MemoryRisk(tables)
        self.coops = MemoryCoops(tables)
        self.jobs = MemoryJobs(tables, clock)
        self.markets = MemoryMarkets(tables)


class MemoryDatabase:
    """engine.uow.Database in this process's memory."""

    backend = "memory"

    def __init__(self, data: MemoryData, *, clock: Clock, max_batch: int) -> None:
        self.clock = clock
        self.max_batch = max_batch
        self._data = data
        self._closed = False
        # Committed rows, read outside any transaction; writing through them raises.
        committed = Tables(data, writable=False)
        self.ledger = MemoryDatabaseLedger(committed, self.atomic)
        self.users = MemoryUsers(committed, clock)
        self.clusters = MemoryClusters(committed)
        self.offers = MemoryOffers(committed)
        self.outbox = MemoryOutbox(committed, clock)
        self.counters = MemoryCounters(committed)
        self.credentials = MemoryCredentials(committed)
        self.payments = MemoryPayments(committed)
        self.coops = MemoryCoops(committed)
        self.markets = MemoryMarkets(committed)
        self.outbox_queue = MemoryOutboxQueue(data, committed, clock)
        self.job_queue = MemoryJobQueue(data, committed)
        self.analytics = MemoryAnalytics(data, committed)

    @classmethod
    def open(cls, url: str, *, clock: Clock, max_batch: int) -> MemoryDatabase:
        """``memory:`` is a fresh database; ``memory://name`` the one of that name (made on first use)."""
        name = _name(url)
        data = _NAMED.setdefault(name, MemoryData()) if name else MemoryData()
        return cls(data, clock=clock, max_batch=max_batch)

    async def atomic(self, work: Callable[[Repositories], Awaitable[T]]) -> T:
        if self._closed:
            raise RuntimeError("the database is closed")
        async with self._data.transaction() as tables:
            return await work(MemoryRepositories(tables, self.clock, self.max_batch))

    async def migrate(self) -> list[str]:
        """Nothing to apply: the schema is this package's code."""
        return []

    async def close(self) -> None:
        self._closed = True
