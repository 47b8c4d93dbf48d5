"""What the ledger needs from a database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from engine.ledger.model import (
    Account,
    CreateAccountResult,
    CreateTransferResult,
    PendingStatus,
    Transfer,
    TransferRecord,
)


class LedgerReader(Protocol):
    async def lookup_accounts(self, ids: Sequence[str]) -> dict[str, Account]:
        """The accounts that exist among ``ids``."""
        ...

    async def lookup_transfers(self, ids: Sequence[str]) -> dict[str, TransferRecord]:
        """The applied transfers that exist among ``ids``."""
        ...

    async def pending_statuses(self, ids: Sequence[str]) -> dict[str, PendingStatus]:
        """Current status of the pending transfers among ``ids``."""
        ...

    async def account_transfers(
        self, account_ids: Sequence[str], *, limit: int, before_seq: int | None = None
    ) -> list[TransferRecord]:
        """Transfers touching any of ``account_ids``, newest first, before ``before_seq``."""
        ...

    async def transfers_with_reference(self, reference: str) -> list[TransferRecord]:
        """The applied transfers carrying ``reference`` (one operation's), in chain order."""
        ...

    async def sum_transfers(
        self,
        *,
        codes: Sequence[int],
        debit_account_id: str | None = None,
        credit_account_id: str | None = None,
    ) -> int:
        """Settled movement: the total amount of transfers with one of ``codes``.

        Counts single-phase transfers and the posts of two-phase ones (a post's
        record carries its reservation's accounts and the amount posted, and
        the post's own code); never a reservation, its void or its expiry, so
        energy reserved and then delivered is counted once, and energy
        reserved and released not at all (see ``TransferRecord.settled``).
        Optionally only the transfers debiting ``debit_account_id`` and/or
        crediting ``credit_account_id``.
        """
        ...

    async def chain_entries(self, *, after_seq: int, limit: int) -> list[TransferRecord]:
        """Applied transfers in chain order, ``seq > after_seq``."""
        ...

    async def chain_head(self) -> tuple[int, str]:
        """The last sequence number and hash the store recorded as the chain's head."""
        ...

    async def list_accounts(self, *, after_id: str = "", limit: int = 1000) -> list[Account]:
        """Accounts in id order, for audits."""
        ...


class LedgerWriter(LedgerReader, Protocol):
    async def create_accounts(self, accounts: Sequence[Account]) -> list[CreateAccountResult]: ...

    async def create_transfers(self, transfers: Sequence[Transfer]) -> list[CreateTransferResult]:
        """Apply a batch (linked chains all-or-nothing); one result per transfer."""
        ...

    async def expire_pending_transfers(self, *, limit: int = 1000) -> int:
        """Release pending transfers whose timeout has passed; returns how many."""
        ...
