"""The ledger repository, written once for SQLite and PostgreSQL (engine.ledger.ports).

Reads serve both a transaction and the database's committed view. Inside a
transaction, :class:`LedgerRepository` supplies :class:`LedgerTransactionBase`'s
primitives: accounts and the chain head are read ``FOR UPDATE`` (PostgreSQL
row locks, in sorted id order; SQLite's writer already holds the database
lock), and everything a batch writes once it holds the chain head is
collected into :class:`LedgerWrites` and handed to a flush: one statement
per part by default, one statement in all on PostgreSQL
(:func:`storage.postgres.write_ledger_batch`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.kernel.clock import Clock
from engine.ledger.model import UNSETTLED_FLAGS, Account, PendingStatus, TransferRecord
from engine.ledger.rules import BatchOutcome
from storage.dialect import Batch, Executor, Sql, sql, sql_pair, to_sqlite, unnest
from storage.ledger_ops import Atomic, LedgerTransactionBase, LedgerWritesOwnTransactions
from storage.tables import ACCOUNTS, PENDING_TRANSFERS, TRANSFERS

# A transfers row that moved posted balances (``TransferRecord.settled`` in SQL): sums of
# settled movement use it, so a reservation and its post are never both counted.
SETTLED_TRANSFER = f"(flags & {int(UNSETTLED_FLAGS)}) = 0"

_ACCOUNTS = sql(f"SELECT {ACCOUNTS.select} FROM accounts WHERE id = ANY($1::text[])")
_LOCK_ACCOUNTS = sql(f"SELECT {ACCOUNTS.select} FROM accounts WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE")
_LIST_ACCOUNTS = sql(f"SELECT {ACCOUNTS.select} FROM accounts WHERE id > $1 ORDER BY id LIMIT $2")
_TRANSFERS = sql(f"SELECT {TRANSFERS.select} FROM transfers WHERE id = ANY($1::text[])")
# transfers_reference is the index; one operation's transfers are few.
_WITH_REFERENCE = sql(f"SELECT {TRANSFERS.select} FROM transfers WHERE reference = $1 ORDER BY seq")
_PENDING_STATUSES = sql("SELECT id, status FROM pending_transfers WHERE id = ANY($1::text[])")
# No lock: the write path locks the accounts, then re-reads the statuses.
_DUE_PENDING = sql(
    "SELECT id FROM pending_transfers WHERE status = 'pending' AND expires_at <= $1 ORDER BY expires_at LIMIT $2"
)
_CHAIN_ENTRIES = sql(f"SELECT {TRANSFERS.select} FROM transfers WHERE seq > $1 ORDER BY seq LIMIT $2")
_CHAIN_HEAD = sql("SELECT seq, hash FROM ledger_chain_head WHERE singleton = 1")
_LOCK_CHAIN_HEAD = sql("SELECT seq, hash FROM ledger_chain_head WHERE singleton = 1 FOR UPDATE")

# Newest transfers touching some accounts: a UNION of the two indexed sides beats one
# OR scan on large tables. PostgreSQL walks each account's index backwards, stopped at
# ``limit``, then fetches the few rows found by primary key; SQLite has no LATERAL.
#
# Two things keep PostgreSQL's plan on those paths whatever the statistics say. The
# account is matched as a range of one value, ordered by (account, seq): with ``=`` the
# planner takes the account as a constant, sees the primary key already ordered by seq,
# and on a column where a few system accounts hold most rows (so any one account is
# "expected" on 1 row in 8) walks the whole table backwards looking for a user's few rows
# (2 ms a call at 10k transfers, growing with the table). And the rows are joined to the
# limited list of seqs rather than picked with ``seq IN (...)``, which it merged with a
# full backward scan of the primary key. Measured on the benchmark's ledger: 20 us of
# PostgreSQL CPU per call instead of 2,000 (a user), 100 instead of 220 (a system account).
_ACCOUNT_TRANSFERS = sql_pair(
    postgres=(
        f"SELECT {TRANSFERS.select_as('t')} FROM ("
        "SELECT d.seq FROM unnest($1::text[]) AS acc (id) CROSS JOIN LATERAL ("
        "SELECT seq FROM transfers WHERE debit_account_id >= acc.id AND debit_account_id <= acc.id AND seq < $2 "
        "ORDER BY debit_account_id DESC, seq DESC LIMIT $3) AS d "
        "UNION "
        "SELECT c.seq FROM unnest($1::text[]) AS acc (id) CROSS JOIN LATERAL ("
        "SELECT seq FROM transfers WHERE credit_account_id >= acc.id AND credit_account_id <= acc.id AND seq < $2 "
        "ORDER BY credit_account_id DESC, seq DESC LIMIT $3) AS c "
        "ORDER BY seq DESC LIMIT $3) AS s JOIN transfers AS t ON t.seq = s.seq ORDER BY t.seq DESC"
    ),
    sqlite=to_sqlite(
        f"SELECT {TRANSFERS.select} FROM transfers WHERE seq IN ("
        "SELECT seq FROM transfers WHERE debit_account_id = ANY($1::text[]) AND seq < $2 "
        "UNION SELECT seq FROM transfers WHERE credit_account_id = ANY($1::text[]) AND seq < $2) "
        "ORDER BY seq DESC LIMIT $3"
    ),
)


def _sum_transfers(by_debit: bool, by_credit: bool) -> Sql:
    text = f"SELECT COALESCE(SUM(amount), 0) FROM transfers WHERE code = ANY($1::bigint[]) AND {SETTLED_TRANSFER}"
    n = 1
    if by_debit:
        n += 1
        text += f" AND debit_account_id = ${n}"
    if by_credit:
        n += 1
        text += f" AND credit_account_id = ${n}"
    return sql(text)


# One statement per combination of filters, each with an indexable plan.
_SUM_TRANSFERS = {(d, c): _sum_transfers(d, c) for d in (False, True) for c in (False, True)}

# The parts of a ledger batch, written one statement each (see LedgerWrites).
SET_CHAIN_HEAD = sql("UPDATE ledger_chain_head SET seq = $1, hash = $2 WHERE singleton = 1")
BALANCE_TYPES = ("text", "bigint", "bigint", "bigint", "bigint")
SET_BALANCES = Batch(
    postgres=(
        "UPDATE accounts AS a SET debits_pending = b.dp, debits_posted = b.dpo, "
        "credits_pending = b.cp, credits_posted = b.cpo "
        f"FROM {unnest(BALANCE_TYPES)} AS b (id, dp, dpo, cp, cpo) WHERE a.id = b.id"
    ),
    sqlite=to_sqlite(
        "UPDATE accounts SET debits_pending = $2, debits_posted = $3, credits_pending = $4, credits_posted = $5 "
        "WHERE id = $1"
    ),
    width=len(BALANCE_TYPES),
)
INSERT_PENDINGS = PENDING_TRANSFERS.insert_batch
PENDING_UPDATE_TYPES = ("text", "text")
SET_PENDING_STATUSES = Batch(
    postgres=(
        "UPDATE pending_transfers AS p SET status = u.status "
        f"FROM {unnest(PENDING_UPDATE_TYPES)} AS u (id, status) WHERE p.id = u.id"
    ),
    sqlite=to_sqlite("UPDATE pending_transfers SET status = $2 WHERE id = $1"),
    width=len(PENDING_UPDATE_TYPES),
)


@dataclass(slots=True)
class LedgerWrites:
    """What one ledger batch writes once it holds the chain head (rows in column order)."""

    transfers: list[tuple[Any, ...]] = field(default_factory=list)
    head: tuple[int, str] | None = None
    balances: list[tuple[Any, ...]] = field(default_factory=list)  # id, dp, dpo, cp, cpo
    new_pendings: list[tuple[Any, ...]] = field(default_factory=list)  # id, status, expires_at
    pending_updates: list[tuple[Any, ...]] = field(default_factory=list)  # id, status

    def empty(self) -> bool:
        return not (self.transfers or self.balances or self.new_pendings or self.pending_updates or self.head)


LedgerFlush = Callable[[Executor, LedgerWrites], Awaitable[None]]


async def write_each_part(db: Executor, writes: LedgerWrites) -> None:
    """One statement per part (SQLite: each an ``executemany`` on the open transaction)."""
    if writes.transfers:
        await db.execute_batch(TRANSFERS.insert_batch, writes.transfers)
    if writes.head is not None:
        await db.execute(SET_CHAIN_HEAD, *writes.head)
    if writes.balances:
        await db.execute_batch(SET_BALANCES, writes.balances)
    if writes.new_pendings:
        await db.execute_batch(INSERT_PENDINGS, writes.new_pendings)
    if writes.pending_updates:
        await db.execute_batch(SET_PENDING_STATUSES, writes.pending_updates)


class LedgerReads:
    """engine.ledger.ports.LedgerReader over one executor."""

    def __init__(self, db: Executor) -> None:
        self._db = db

    async def lookup_accounts(self, ids: Sequence[str]) -> dict[str, Account]:
        if not ids:
            return {}
        return {r[0]: ACCOUNTS.record(r) for r in await self._db.fetch(_ACCOUNTS, list(ids))}

    async def lookup_transfers(self, ids: Sequence[str]) -> dict[str, TransferRecord]:
        if not ids:
            return {}
        return {r[1]: TRANSFERS.record(r) for r in await self._db.fetch(_TRANSFERS, list(ids))}

    async def pending_statuses(self, ids: Sequence[str]) -> dict[str, PendingStatus]:
        if not ids:
            return {}
        return {r[0]: PendingStatus(r[1]) for r in await self._db.fetch(_PENDING_STATUSES, list(ids))}

    async def account_transfers(
        self, account_ids: Sequence[str], *, limit: int, before_seq: int | None = None
    ) -> list[TransferRecord]:
        if not account_ids:
            return []
        before = before_seq if before_seq is not None else 2**62
        rows = await self._db.fetch(_ACCOUNT_TRANSFERS, list(account_ids), before, limit)
        return [TRANSFERS.record(r) for r in rows]

    async def transfers_with_reference(self, reference: str) -> list[TransferRecord]:
        return [TRANSFERS.record(r) for r in await self._db.fetch(_WITH_REFERENCE, reference)]

    async def sum_transfers(
        self,
        *,
        codes: Sequence[int],
        debit_account_id: str | None = None,
        credit_account_id: str | None = None,
    ) -> int:
        statement = _SUM_TRANSFERS[debit_account_id is not None, credit_account_id is not None]
        args: list[Any] = [[int(c) for c in codes]]
        args += [a for a in (debit_account_id, credit_account_id) if a is not None]
        row = await self._db.fetch_one(statement, *args)
        assert row is not None
        return int(row[0])

    async def chain_entries(self, *, after_seq: int, limit: int) -> list[TransferRecord]:
        return [TRANSFERS.record(r) for r in await self._db.fetch(_CHAIN_ENTRIES, after_seq, limit)]

    async def chain_head(self) -> tuple[int, str]:
        row = await self._db.fetch_one(_CHAIN_HEAD)
        assert row is not None, "the chain head row is made by the first migration"
        return int(row[0]), str(row[1])

    async def list_accounts(self, *, after_id: str = "", limit: int = 1000) -> list[Account]:
        return [ACCOUNTS.record(r) for r in await self._db.fetch(_LIST_ACCOUNTS, after_id, limit)]


class DatabaseLedger(LedgerWritesOwnTransactions, LedgerReads):
    """The database's ledger: committed reads, and each write a transaction of its own."""

    def __init__(self, db: Executor, atomic: Atomic) -> None:
        super().__init__(db)
        self._atomic = atomic


class LedgerRepository(LedgerReads, LedgerTransactionBase):
    """engine.ledger.ports.LedgerWriter inside one open transaction."""

    def __init__(self, db: Executor, clock: Clock, max_batch: int, flush: LedgerFlush = write_each_part) -> None:
        super().__init__(db)
        self.clock = clock
        self.max_batch = max_batch
        self._flush = flush
        # Set while _persist runs: the write primitives collect into it.
        self._writes: LedgerWrites | None = None
        # Accounts as this transaction holds them: read under its lock (PostgreSQL's FOR UPDATE,
        # SQLite's one writer), then as it changed them. Nobody else can change them before it
        # ends, so reading them again (a receipt's balances after the operation) needs no statement.
        self._held: dict[str, Account] = {}

    async def lookup_accounts(self, ids: Sequence[str]) -> dict[str, Account]:
        if ids and all(i in self._held for i in ids):
            return {i: self._held[i] for i in ids}
        return await super().lookup_accounts(ids)

    async def _fetch_transfers(self, ids: Sequence[str]) -> dict[str, TransferRecord]:
        return await self.lookup_transfers(ids)

    async def _fetch_pending_statuses(self, ids: Sequence[str]) -> dict[str, PendingStatus]:
        return await self.pending_statuses(ids)

    async def _lock_accounts(self, sorted_ids: Sequence[str]) -> dict[str, Account]:
        if not sorted_ids:
            return {}
        locked = {r[0]: ACCOUNTS.record(r) for r in await self._db.fetch(_LOCK_ACCOUNTS, list(sorted_ids))}
        self._held.update(locked)
        return locked

    async def _insert_accounts(self, accounts: Sequence[Account]) -> None:
        # In id order, so two transactions inserting overlapping new ids wait
        # on each other in the same order (and one then retries as "exists").
        rows = [ACCOUNTS.values(a) for a in sorted(accounts, key=lambda a: a.id)]
        await self._db.execute_batch(ACCOUNTS.insert_batch, rows)

    async def _due_pending_ids(self, now_us: int, limit: int) -> list[str]:
        return [r[0] for r in await self._db.fetch(_DUE_PENDING, now_us, limit)]

    async def _lock_chain_head(self) -> tuple[int, str]:
        row = await self._db.fetch_one(_LOCK_CHAIN_HEAD)
        assert row is not None, "the chain head row is made by the first migration"
        return int(row[0]), str(row[1])

    async def _persist(self, outcome: BatchOutcome) -> None:
        self._writes = writes = LedgerWrites()
        try:
            await super()._persist(outcome)
        finally:
            self._writes = None
        if not writes.empty():
            await self._flush(self._db, writes)

    async def _stage(self, fill: Callable[[LedgerWrites], None]) -> None:
        """Add to the batch being persisted, or (called on its own) write now."""
        if self._writes is not None:
            fill(self._writes)
            return
        writes = LedgerWrites()
        fill(writes)
        await self._flush(self._db, writes)

    async def _append_transfers(self, records: Sequence[TransferRecord], head: tuple[int, str]) -> None:
        def fill(w: LedgerWrites) -> None:
            w.transfers.extend(TRANSFERS.values(r) for r in records)
            w.head = head

        await self._stage(fill)

    async def _update_balances(self, accounts: Iterable[Account]) -> None:
        changed = list(accounts)
        rows = [(a.id, a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted) for a in changed]
        await self._stage(lambda w: w.balances.extend(rows))
        self._held.update((a.id, a) for a in changed)

    async def _insert_pendings(self, rows: Sequence[tuple[str, PendingStatus, int | None]]) -> None:
        values = [(i, str(s), e) for i, s, e in rows]
        await self._stage(lambda w: w.new_pendings.extend(values))

    async def _update_pending_statuses(self, rows: Sequence[tuple[str, PendingStatus]]) -> None:
        values = [(i, str(s)) for i, s in rows]
        await self._stage(lambda w: w.pending_updates.extend(values))
