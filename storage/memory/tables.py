"""The in-memory database's tables, and the transaction that sees them with its own changes on top.

Committed rows live in plain dicts. A transaction writes into a layer of its
own over them (:class:`View`): its reads see its changes, everyone else's
reads see only committed rows (READ COMMITTED, like the real databases),
a rollback drops the layer and a commit folds it into the dicts, without a
single await, so no reader ever sees half a commit. One transaction writes at
a time (:attr:`MemoryData.lock`), as with SQLite's ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

from engine.access.model import ApiKey, IdempotencyRecord, UserToken
from engine.analytics.model import UssdSessionEnd
from engine.coops.audit import AuditEntry
from engine.coops.model import Asset, CatalogItem, Cooperative, Member, Proposal, Vote
from engine.energy.model import Cluster
from engine.identity.model import User
from engine.ledger.chain import GENESIS_HASH
from engine.ledger.model import Account, PendingStatus, TransferRecord
from engine.markets.model import FillNotice, MarketState, MonthlyEnergy, Order, Quote, SlotPrice, Tariff, Trade
from engine.notifications.model import OutboxRow
from engine.payments.model import Payment
from engine.scheduler.model import Job
from engine.trading.model import Offer

K = TypeVar("K")
V = TypeVar("V")
_DELETED = object()  # a row this transaction deleted


class ReadOnly(RuntimeError):
    """A write through a database's committed view (writes belong in ``atomic``)."""


class View(Generic[K, V]):
    """One table as one transaction sees it: committed rows under its own changes."""

    __slots__ = ("_changes", "_rows", "_writable")

    def __init__(self, rows: dict[K, V], *, writable: bool) -> None:
        self._rows = rows
        self._changes: dict[K, object] = {}
        self._writable = writable

    def get(self, key: K) -> V | None:
        if key in self._changes:
            value = self._changes[key]
            return None if value is _DELETED else value  # type: ignore[return-value]
        return self._rows.get(key)

    def __contains__(self, key: K) -> bool:
        return self.get(key) is not None

    def items(self) -> Iterator[tuple[K, V]]:
        changes = self._changes
        for key, value in self._rows.items():
            if key not in changes:
                yield key, value
        for key, change in changes.items():
            if change is not _DELETED:
                yield key, change  # type: ignore[misc]

    def values(self) -> Iterator[V]:
        return (value for _, value in self.items())

    def put(self, key: K, value: V) -> None:
        self._check_writable()
        self._changes[key] = value

    def delete(self, key: K) -> None:
        self._check_writable()
        self._changes[key] = _DELETED

    def commit(self) -> None:
        for key, change in self._changes.items():
            if change is _DELETED:
                self._rows.pop(key, None)
            else:
                self._rows[key] = change  # type: ignore[assignment]
        self._changes.clear()

    def _check_writable(self) -> None:
        if not self._writable:
            raise ReadOnly("write outside a transaction: use Database.atomic")


class MemoryData:
    """One in-memory database's committed rows, by table."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.accounts: dict[str, Account] = {}
        self.transfers: dict[int, TransferRecord] = {}  # by seq
        self.transfer_seqs: dict[str, int] = {}  # id -> seq
        self.pendings: dict[str, tuple[PendingStatus, int | None]] = {}  # id -> (status, expires_at)
        self.chain_head: dict[int, tuple[int, str]] = {1: (0, GENESIS_HASH)}
        self.sequences: dict[str, int] = {}  # the last id given out, per table
        self.users: dict[int, User] = {}
        self.user_ids: dict[str, int] = {}  # phone -> id
        self.clusters: dict[str, Cluster] = {}
        self.offers: dict[str, Offer] = {}
        self.outbox: dict[int, OutboxRow] = {}
        self.outbox_ids: dict[str, int] = {}  # dedupe_key -> id
        self.counters: dict[tuple[str, str, int], int] = {}
        self.ussd_events: dict[str, UssdSessionEnd] = {}
        self.api_keys: dict[str, ApiKey] = {}
        self.api_key_ids: dict[str, str] = {}  # key_hash -> id
        self.api_tokens: dict[str, UserToken] = {}  # by token_hash
        self.idempotency: dict[tuple[str, str], IdempotencyRecord] = {}  # by (principal, key)
        self.payments: dict[str, Payment] = {}
        self.payment_attempts: dict[tuple[str, str], str] = {}  # (provider, attempt_id) -> payment id
        self.risk_signals: dict[int, tuple[int, str, int, dict[str, str | int], int]] = {}  # as RISK_SIGNALS' row
        self.coops: dict[str, Cooperative] = {}
        self.coop_members: dict[tuple[str, int], Member] = {}  # (coop_id, user_id)
        self.proposals: dict[str, Proposal] = {}
        # proposal id -> {user id: weight}: written once with the proposal, never changed.
        self.proposal_electorate: dict[str, dict[int, int]] = {}
        self.votes: dict[tuple[str, int], Vote] = {}  # (proposal_id, user_id)
        self.coop_audit: dict[tuple[str, int], AuditEntry] = {}  # (coop_id, seq)
        self.coop_catalog: dict[tuple[str, str], CatalogItem] = {}  # (supplier_id, item_id)
        self.coop_assets: dict[tuple[str, str], Asset] = {}  # (proposal_id, item_id)
        self.jobs: dict[int, Job] = {}
        self.job_ids: dict[tuple[str, str], int] = {}  # (kind, key) -> id
        self.market_state: dict[str, MarketState] = {}
        self.market_orders: dict[str, Order] = {}
        self.market_order_seqs: dict[tuple[str, int], str] = {}  # (cluster_id, seq) -> order id
        self.market_trades: dict[str, Trade] = {}
        self.market_trade_seqs: dict[tuple[str, int], str] = {}  # (cluster_id, seq) -> trade id
        self.market_prices: dict[tuple[str, int], SlotPrice] = {}  # (cluster_id, slot_start)
        self.market_quotes: dict[str, Quote] = {}
        self.market_tariffs: dict[tuple[str, int], Tariff] = {}  # (cluster_id, effective_from)
        self.market_monthly: dict[tuple[int, int], MonthlyEnergy] = {}  # (user_id, month)
        self.market_notices: dict[tuple[int, str, int], FillNotice] = {}  # (user_id, cluster_id, slot_start)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tables]:
        """One write transaction: committed if the body returns, dropped if it raises."""
        async with self.lock:
            tables = Tables(self, writable=True)
            yield tables
            tables.commit()


class Tables:
    """Every table as one transaction (or, read-only, the committed database) sees it."""

    __slots__ = (
        "accounts",
        "api_key_ids",
        "api_keys",
        "api_tokens",
        "chain_head",
        "clusters",
        "coop_assets",
        "coop_audit",
        "coop_catalog",
        "coop_members",
        "coops",
        "counters",
        "idempotency",
        "job_ids",
        "jobs",
        "market_monthly",
        "market_notices",
        "market_order_seqs",
        "market_orders",
        "market_prices",
        "market_quotes",
        "market_state",
        "market_tariffs",
        "market_trade_seqs",
        "market_trades",
        "offers",
        "outbox",
        "outbox_ids",
        "payment_attempts",
        "payments",
        "pendings",
        "proposal_electorate",
        "proposals",
        "risk_signals",
        "sequences",
        "transfer_seqs",
        "transfers",
        "user_ids",
        "users",
        "ussd_events",
        "votes",
    )

    def __init__(self, data: MemoryData, *, writable: bool) -> None:
        w = writable
        self.accounts = View(data.accounts, writable=w)
        self.transfers = View(data.transfers, writable=w)
        self.transfer_seqs = View(data.transfer_seqs, writable=w)
        self.pendings = View(data.pendings, writable=w)
        self.chain_head = View(data.chain_head, writable=w)
        self.sequences = View(data.sequences, writable=w)
        self.users = View(data.users, writable=w)
        self.user_ids = View(data.user_ids, writable=w)
        self.clusters = View(data.clusters, writable=w)
        self.offers = View(data.offers, writable=w)
        self.outbox = View(data.outbox, writable=w)
        self.outbox_ids = View(data.outbox_ids, writable=w)
        self.counters = View(data.counters, writable=w)
        self.ussd_events = View(data.ussd_events, writable=w)
        self.api_keys = View(data.api_keys, writable=w)
        self.api_key_ids = View(data.api_key_ids, writable=w)
        self.api_tokens = View(data.api_tokens, writable=w)
        self.idempotency = View(data.idempotency, writable=w)
        self.payments = View(data.payments, writable=w)
        self.payment_attempts = View(data.payment_attempts, writable=w)
        self.risk_signals = View(data.risk_signals, writable=w)
        self.coops = View(data.coops, writable=w)
        self.coop_members = View(data.coop_members, writable=w)
        self.proposals = View(data.proposals, writable=w)
        self.proposal_electorate = View(data.proposal_electorate, writable=w)
        self.votes = View(data.votes, writable=w)
        self.coop_audit = View(data.coop_audit, writable=w)
        self.coop_catalog = View(data.coop_catalog, writable=w)
        self.coop_assets = View(data.coop_assets, writable=w)
        self.jobs = View(data.jobs, writable=w)
        self.job_ids = View(data.job_ids, writable=w)
        self.market_state = View(data.market_state, writable=w)
        self.market_orders = View(data.market_orders, writable=w)
        self.market_order_seqs = View(data.market_order_seqs, writable=w)
        self.market_trades = View(data.market_trades, writable=w)
        self.market_trade_seqs = View(data.market_trade_seqs, writable=w)
        self.market_prices = View(data.market_prices, writable=w)
        self.market_quotes = View(data.market_quotes, writable=w)
        self.market_tariffs = View(data.market_tariffs, writable=w)
        self.market_monthly = View(data.market_monthly, writable=w)
        self.market_notices = View(data.market_notices, writable=w)

    def next_id(self, table: str) -> int:
        """The next id of an identity column (like AUTOINCREMENT, a rolled-back id is given again)."""
        value = (self.sequences.get(table) or 0) + 1
        self.sequences.put(table, value)
        return value

    def commit(self) -> None:
        for name in self.__slots__:
            view: View[object, object] = getattr(self, name)
            view.commit()
