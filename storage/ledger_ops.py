"""The ledger write path shared by every backend (SQLite, PostgreSQL and the in-memory fake).

A backend supplies a handful of primitives (SQL, or dicts in the fake); this base class does the
orchestration in a fixed order that keeps PostgreSQL free of deadlocks and
lost updates:

1. read the (immutable) pending transfers a batch references, to learn
   every account it touches;
2. lock those accounts in sorted id order;
3. only then read idempotency ids and pending states (so a concurrent post
   or retry that committed first is seen), apply the engine's rules;
4. lock the chain head last, append to the hash chain, write everything.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from typing import Protocol, TypeVar

from engine.kernel.clock import Clock
from engine.kernel.errors import BatchTooLarge
from engine.ledger.chain import entry_hash
from engine.ledger.model import (
    Account,
    CreateAccountResult,
    CreateTransferResult,
    PendingState,
    PendingStatus,
    Transfer,
    TransferFlags,
    TransferRecord,
)
from engine.ledger.rules import BatchOutcome, apply_transfers, expire_pendings
from engine.uow import Repositories

T = TypeVar("T")


class Atomic(Protocol):
    """A database's ``atomic``: run work in one write transaction."""

    def __call__(self, work: Callable[[Repositories], Awaitable[T]], /) -> Awaitable[T]: ...


class LedgerWritesOwnTransactions:
    """The ledger a database offers outside any unit of work: each write is a transaction of its own.

    Mixed into a backend's committed-read ledger, which supplies ``_atomic``.
    """

    _atomic: Atomic

    async def create_accounts(self, accounts: Sequence[Account]) -> list[CreateAccountResult]:
        return await self._atomic(lambda repositories: repositories.ledger.create_accounts(accounts))

    async def create_transfers(self, transfers: Sequence[Transfer]) -> list[CreateTransferResult]:
        return await self._atomic(lambda repositories: repositories.ledger.create_transfers(transfers))

    async def expire_pending_transfers(self, *, limit: int = 1000) -> int:
        return await self._atomic(lambda repositories: repositories.ledger.expire_pending_transfers(limit=limit))


class LedgerTransactionBase(ABC):
    """Ledger writes inside one open database transaction."""

    clock: Clock
    max_batch: int

    # --- primitives a backend implements --------------------------------------

    @abstractmethod
    async def _fetch_transfers(self, ids: Sequence[str]) -> dict[str, TransferRecord]: ...

    @abstractmethod
    async def _fetch_pending_statuses(self, ids: Sequence[str]) -> dict[str, PendingStatus]: ...

    @abstractmethod
    async def _lock_accounts(self, sorted_ids: Sequence[str]) -> dict[str, Account]: ...

    @abstractmethod
    async def _insert_accounts(self, accounts: Sequence[Account]) -> None: ...

    @abstractmethod
    async def _due_pending_ids(self, now_us: int, limit: int) -> list[str]: ...

    @abstractmethod
    async def _lock_chain_head(self) -> tuple[int, str]: ...

    @abstractmethod
    async def _append_transfers(self, records: Sequence[TransferRecord], head: tuple[int, str]) -> None:
        """Insert chained records and move the chain head to ``head``."""

    @abstractmethod
    async def _update_balances(self, accounts: Iterable[Account]) -> None: ...

    @abstractmethod
    async def _insert_pendings(self, rows: Sequence[tuple[str, PendingStatus, int | None]]) -> None: ...

    @abstractmethod
    async def _update_pending_statuses(self, rows: Sequence[tuple[str, PendingStatus]]) -> None: ...

    # --- the shared write path ------------------------------------------------

    async def create_accounts(self, accounts: Sequence[Account]) -> list[CreateAccountResult]:
        if len(accounts) > self.max_batch:
            raise BatchTooLarge(size=len(accounts), limit=self.max_batch)
        results: list[CreateAccountResult] = []
        known = await self._lock_accounts(sorted({a.id for a in accounts if a.id}))
        fresh: list[Account] = []
        now = self.clock.now_us()
        for a in accounts:
            if not a.id:
                results.append(CreateAccountResult.ID_MUST_NOT_BE_EMPTY)
                continue
            if a.flags.value & 3 == 3:
                results.append(CreateAccountResult.FLAGS_ARE_MUTUALLY_EXCLUSIVE)
                continue
            previous = known.get(a.id)
            if previous is not None:
                same = previous.same_definition(a)
                results.append(CreateAccountResult.EXISTS if same else CreateAccountResult.EXISTS_WITH_DIFFERENT_FIELDS)
                continue
            # New accounts always start empty: balances come only from transfers.
            created = Account(id=a.id, ledger=a.ledger, kind=a.kind, owner=a.owner, flags=a.flags, timestamp=now)
            known[a.id] = created
            fresh.append(created)
            results.append(CreateAccountResult.OK)
        if fresh:
            await self._insert_accounts(fresh)
        return results

    async def create_transfers(self, transfers: Sequence[Transfer]) -> list[CreateTransferResult]:
        if len(transfers) > self.max_batch:
            raise BatchTooLarge(size=len(transfers), limit=self.max_batch)
        if not transfers:
            return []
        pending_ids = sorted({t.pending_id for t in transfers if t.pending_id})
        referenced = await self._fetch_transfers(pending_ids) if pending_ids else {}
        account_ids = {t.debit_account_id for t in transfers} | {t.credit_account_id for t in transfers}
        for record in referenced.values():
            account_ids.update((record.debit_account_id, record.credit_account_id))
        account_ids.discard("")
        accounts = await self._lock_accounts(sorted(account_ids))

        ids = sorted({t.id for t in transfers if t.id} | set(pending_ids))
        existing = await self._fetch_transfers(ids)
        pendings = await self._pending_states(existing, pending_ids)
        outcome = apply_transfers(
            transfers, accounts=accounts, existing=existing, pendings=pendings, now_us=self.clock.now_us()
        )
        await self._persist(outcome)
        return outcome.results

    async def expire_pending_transfers(self, *, limit: int = 1000) -> int:
        now = self.clock.now_us()
        due_ids = await self._due_pending_ids(now, limit)
        if not due_ids:
            return 0
        records = await self._fetch_transfers(due_ids)
        account_ids = {r.debit_account_id for r in records.values()} | {r.credit_account_id for r in records.values()}
        accounts = await self._lock_accounts(sorted(account_ids))
        # Re-read after locking: a post or void that committed meanwhile wins.
        pendings = await self._pending_states(records, due_ids)
        outcome = expire_pendings(pendings.values(), accounts=accounts, now_us=now)
        await self._persist(outcome)
        return len(outcome.records)

    async def _pending_states(self, records: dict[str, TransferRecord], ids: Sequence[str]) -> dict[str, PendingState]:
        wanted = [i for i in ids if i in records and records[i].flags & TransferFlags.PENDING]
        if not wanted:
            return {}
        statuses = await self._fetch_pending_statuses(wanted)
        return {i: PendingState(records[i], statuses[i]) for i in wanted if i in statuses}

    async def _persist(self, outcome: BatchOutcome) -> None:
        if not outcome.records:
            return
        seq, head_hash = await self._lock_chain_head()
        chained: list[TransferRecord] = []
        for record in outcome.records:
            seq += 1
            placed = replace(record, seq=seq)
            head_hash = entry_hash(head_hash, placed)
            chained.append(replace(placed, hash=head_hash))
        await self._append_transfers(chained, (seq, head_hash))
        await self._update_balances(outcome.accounts.values())
        created = {r.id: r for r in chained if r.flags & TransferFlags.PENDING}
        if created:
            await self._insert_pendings(
                [(i, outcome.pending_status.get(i, PendingStatus.PENDING), r.expires_at) for i, r in created.items()]
            )
        changed = [(i, s) for i, s in outcome.pending_status.items() if i not in created]
        if changed:
            await self._update_pending_statuses(changed)
