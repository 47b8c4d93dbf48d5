"""The in-memory ledger: LedgerTransactionBase's primitives over dicts, with the schema's checks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from engine.kernel.clock import Clock
from engine.ledger.model import Account, AccountFlags, PendingStatus, TransferRecord
from storage.ledger_ops import Atomic, LedgerTransactionBase, LedgerWritesOwnTransactions
from storage.memory.tables import Tables


class ConstraintViolation(RuntimeError):
    """What the real schema's CHECK or UNIQUE constraints would refuse (an engine bug, never a user error)."""


class MemoryLedgerReads:
    """engine.ledger.ports.LedgerReader over the in-memory tables."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def lookup_accounts(self, ids: Sequence[str]) -> dict[str, Account]:
        accounts = self._t.accounts
        return {i: a for i in ids if (a := accounts.get(i)) is not None}

    async def lookup_transfers(self, ids: Sequence[str]) -> dict[str, TransferRecord]:
        found: dict[str, TransferRecord] = {}
        for i in ids:
            seq = self._t.transfer_seqs.get(i)
            record = self._t.transfers.get(seq) if seq is not None else None
            if record is not None:
                found[i] = record
        return found

    async def pending_statuses(self, ids: Sequence[str]) -> dict[str, PendingStatus]:
        pendings = self._t.pendings
        return {i: p[0] for i in ids if (p := pendings.get(i)) is not None}

    async def account_transfers(
        self, account_ids: Sequence[str], *, limit: int, before_seq: int | None = None
    ) -> list[TransferRecord]:
        wanted = set(account_ids)
        found: list[TransferRecord] = []
        head, _ = await self.chain_head()
        newest = head if before_seq is None else min(head, before_seq - 1)
        for seq in range(newest, 0, -1):
            if len(found) >= limit:
                break
            record = self._t.transfers.get(seq)
            if record is not None and (record.debit_account_id in wanted or record.credit_account_id in wanted):
                found.append(record)
        return found

    async def transfers_with_reference(self, reference: str) -> list[TransferRecord]:
        return sorted((r for r in self._t.transfers.values() if r.reference == reference), key=lambda r: r.seq)

    async def sum_transfers(
        self,
        *,
        codes: Sequence[int],
        debit_account_id: str | None = None,
        credit_account_id: str | None = None,
    ) -> int:
        wanted = {int(c) for c in codes}
        return sum(
            r.amount
            for r in self._t.transfers.values()
            if r.code in wanted
            and r.settled
            and debit_account_id in (None, r.debit_account_id)
            and credit_account_id in (None, r.credit_account_id)
        )

    async def chain_entries(self, *, after_seq: int, limit: int) -> list[TransferRecord]:
        entries: list[TransferRecord] = []
        seq = max(after_seq, 0) + 1
        while len(entries) < limit and (record := self._t.transfers.get(seq)) is not None:
            entries.append(record)
            seq += 1
        return entries

    async def chain_head(self) -> tuple[int, str]:
        head = self._t.chain_head.get(1)
        assert head is not None
        return head

    async def list_accounts(self, *, after_id: str = "", limit: int = 1000) -> list[Account]:
        ids = sorted(i for i, _ in self._t.accounts.items() if i > after_id)[: max(limit, 0)]
        return [a for i in ids if (a := self._t.accounts.get(i)) is not None]


class MemoryDatabaseLedger(LedgerWritesOwnTransactions, MemoryLedgerReads):
    """The database's ledger: committed reads, and each write a transaction of its own."""

    def __init__(self, tables: Tables, atomic: Atomic) -> None:
        super().__init__(tables)
        self._atomic = atomic


class MemoryLedger(MemoryLedgerReads, LedgerTransactionBase):
    """engine.ledger.ports.LedgerWriter inside one in-memory transaction (the only writer: nothing to lock)."""

    def __init__(self, tables: Tables, clock: Clock, max_batch: int) -> None:
        super().__init__(tables)
        self.clock = clock
        self.max_batch = max_batch

    async def _fetch_transfers(self, ids: Sequence[str]) -> dict[str, TransferRecord]:
        return await self.lookup_transfers(ids)

    async def _fetch_pending_statuses(self, ids: Sequence[str]) -> dict[str, PendingStatus]:
        return await self.pending_statuses(ids)

    async def _lock_accounts(self, sorted_ids: Sequence[str]) -> dict[str, Account]:
        return await self.lookup_accounts(sorted_ids)

    async def _insert_accounts(self, accounts: Sequence[Account]) -> None:
        for account in accounts:
            if account.id in self._t.accounts:
                raise ConstraintViolation(f"account {account.id!r} exists")
            _check_balances(account)
            self._t.accounts.put(account.id, account)

    async def _due_pending_ids(self, now_us: int, limit: int) -> list[str]:
        due = [
            (expires_at, i)
            for i, (status, expires_at) in self._t.pendings.items()
            if status is PendingStatus.PENDING and expires_at is not None and expires_at <= now_us
        ]
        return [i for _, i in sorted(due)[: max(limit, 0)]]

    async def _lock_chain_head(self) -> tuple[int, str]:
        return await self.chain_head()

    async def _append_transfers(self, records: Sequence[TransferRecord], head: tuple[int, str]) -> None:
        for record in records:
            if record.id in self._t.transfer_seqs or record.seq in self._t.transfers:
                raise ConstraintViolation(f"transfer {record.id!r} (seq {record.seq}) exists")
            if record.amount <= 0:
                raise ConstraintViolation(f"transfer {record.id!r} amount {record.amount}")
            for account_id in (record.debit_account_id, record.credit_account_id):
                if account_id not in self._t.accounts:
                    raise ConstraintViolation(f"transfer {record.id!r}: no account {account_id!r}")
            self._t.transfers.put(record.seq, record)
            self._t.transfer_seqs.put(record.id, record.seq)
        self._t.chain_head.put(1, head)

    async def _update_balances(self, accounts: Iterable[Account]) -> None:
        for account in accounts:
            stored = self._t.accounts.get(account.id)
            if stored is None:
                continue  # like an UPDATE that matches no row
            updated = stored.with_balances(
                account.debits_pending, account.debits_posted, account.credits_pending, account.credits_posted
            )
            _check_balances(updated)
            self._t.accounts.put(account.id, updated)

    async def _insert_pendings(self, rows: Sequence[tuple[str, PendingStatus, int | None]]) -> None:
        for transfer_id, status, expires_at in rows:
            if transfer_id in self._t.pendings or transfer_id not in self._t.transfer_seqs:
                raise ConstraintViolation(f"pending transfer {transfer_id!r}")
            self._t.pendings.put(transfer_id, (PendingStatus(status), expires_at))

    async def _update_pending_statuses(self, rows: Sequence[tuple[str, PendingStatus]]) -> None:
        for transfer_id, status in rows:
            stored = self._t.pendings.get(transfer_id)
            if stored is not None:
                self._t.pendings.put(transfer_id, (PendingStatus(status), stored[1]))


def _check_balances(a: Account) -> None:
    """The accounts table's CHECK constraints: the database refuses an overdraft even if the engine had a bug."""
    if min(a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted) < 0:
        raise ConstraintViolation(f"account {a.id!r}: negative balance")
    if a.flags & AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS and a.debits_pending + a.debits_posted > a.credits_posted:
        raise ConstraintViolation(f"account {a.id!r}: debits exceed credits")
    if a.flags & AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS and a.credits_pending + a.credits_posted > a.debits_posted:
        raise ConstraintViolation(f"account {a.id!r}: credits exceed debits")
