"""Repositories per bounded context, each written once for SQLite and PostgreSQL.

Every repository runs its SQL through a :class:`storage.dialect.Executor`: a
transaction's connection inside a unit of work, the read connection (or
pool) for a database's committed reads. :class:`SqlRepositories` is one
transaction's set (engine.uow.Repositories); :class:`SqlDatabaseRepositories`
gives a backend's database the committed-read side of engine.uow.Database.
"""

from __future__ import annotations

from engine.kernel.clock import Clock
from storage.dialect import Executor
from storage.ledger_ops import Atomic
from storage.repositories.access import CredentialReads, CredentialRepository, IdempotencyRepository
from storage.repositories.analytics import AnalyticsRepository
from storage.repositories.clusters import ClusterReads, ClusterRepository
from storage.repositories.coops import CoopReads, CoopRepository
from storage.repositories.counters import CounterReads, CounterRepository
from storage.repositories.jobs import JobQueueRepository, JobRepository
from storage.repositories.ledger import DatabaseLedger, LedgerFlush, LedgerRepository, write_each_part
from storage.repositories.markets import MarketReads, MarketRepository
from storage.repositories.offers import OfferReads, OfferRepository
from storage.repositories.outbox import OutboxQueueRepository, OutboxReads, OutboxRepository
from storage.repositories.payments import PaymentReads, PaymentRepository, RiskRepository
from storage.repositories.users import UserReads, UserRepository


class SqlRepositories:
    """engine.uow.Repositories: one transaction's repositories, all on its connection."""

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

    def __init__(self, db: Executor, clock: Clock, max_batch: int, flush: LedgerFlush = write_each_part) -> None:
        self.ledger = LedgerRepository(db, clock, max_batch, flush)
        self.users = UserRepository(db, clock)
        self.clusters = ClusterRepository(db)
        self.offers = OfferRepository(db)
        self.outbox = OutboxRepository(db, clock)
        self.counters = CounterRepository(db)
        self.credentials = CredentialRepository(db)
        self.idempotency = IdempotencyRepository(db)
        self.payments = PaymentRepository(db)
        self.risk = RiskRepository(db)
        self.coops = CoopRepository(db)
        self.jobs = JobRepository(db, clock)
        self.markets = MarketRepository(db)


class SqlDatabaseRepositories:
    """The repositories of engine.uow.Database, for a SQL backend to build once when it opens.

    ``reads`` reads committed rows; ``writes`` commits each statement on its
    own (the outbox and job queues' and analytics' short transactions); the
    ledger's writes go through ``atomic``.
    """

    def __init__(self, *, reads: Executor, writes: Executor, atomic: Atomic, clock: Clock) -> None:
        self.ledger = DatabaseLedger(reads, atomic)
        self.users = UserReads(reads)
        self.clusters = ClusterReads(reads)
        self.offers = OfferReads(reads)
        self.outbox = OutboxReads(reads)
        self.counters = CounterReads(reads)
        self.credentials = CredentialReads(reads)
        self.payments = PaymentReads(reads)
        self.coops = CoopReads(reads)
        self.markets = MarketReads(reads)
        self.outbox_queue = OutboxQueueRepository(writes=writes, reads=reads, clock=clock)
        self.job_queue = JobQueueRepository(writes=writes, reads=reads)
        self.analytics = AnalyticsRepository(writes=writes, reads=reads, clock=clock)
