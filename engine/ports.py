"""Storage ports: what the engine needs from a database, as Protocols.

``storage/sqlite.py`` and ``storage/postgres.py`` implement them and pass one
shared contract test suite. Every write happens inside :meth:`Store.atomic`,
which gives the callback a :class:`Transaction`: everything it does commits
together or not at all (a raised exception rolls back), so a refused
operation can never leave a partial write.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

from engine.ledger.model import (
    Account,
    CreateAccountResult,
    CreateTransferResult,
    PendingStatus,
    Transfer,
    TransferRecord,
)
from engine.model import (
    Cluster,
    Language,
    Offer,
    OfferStatus,
    OutboxMessage,
    OutboxRow,
    OutboxStatus,
    ScreenFunnel,
    User,
    UssdSessionEnd,
)

T = TypeVar("T")


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


class UserReader(Protocol):
    async def user_by_phone(self, phone: str) -> User | None: ...

    async def user_by_id(self, user_id: int) -> User | None: ...

    async def list_users(self, *, limit: int, offset: int = 0) -> list[User]: ...

    async def count_users(self) -> int: ...

    async def count_users_by_language(self) -> dict[Language, int]: ...


class UserWriter(UserReader, Protocol):
    async def insert_user(self, *, phone: str, name: str, language: Language, pin_hash: str) -> User:
        """Raises :class:`engine.errors.AlreadyRegistered` if the phone is taken."""
        ...

    async def update_user(self, user: User) -> None:
        """Persist name, language and PIN hash (never the PIN-failure counters)."""
        ...

    async def user_for_update(self, user_id: int) -> User | None:
        """The user as stored now, locked until the transaction ends (concurrent PIN attempts queue here)."""
        ...

    async def save_pin_state(self, user: User) -> None:
        """Persist the PIN state: failure counts, lock and its stage, must-change flag and outflow hold."""
        ...


class ClusterReader(Protocol):
    async def cluster_by_id(self, cluster_id: str) -> Cluster | None: ...

    async def list_clusters(self, *, region: str | None = None) -> list[Cluster]: ...

    async def cluster_regions(self) -> list[str]: ...


class ClusterWriter(ClusterReader, Protocol):
    async def insert_cluster(self, cluster: Cluster) -> Cluster:
        """Raises :class:`engine.errors.ClusterExists` if the id is taken."""
        ...


class OfferReader(Protocol):
    async def offer_by_id(self, offer_id: str) -> Offer | None: ...

    async def open_offers_for(self, buyer_id: int, *, now_us: int, limit: int = 20) -> list[Offer]:
        """Offers to ``buyer_id`` still open at ``now_us``, oldest first."""
        ...

    async def count_open_offers(self, seller_id: int, buyer_id: int, *, now_us: int) -> int:
        """Offers from ``seller_id`` to ``buyer_id`` still open at ``now_us``."""
        ...


class CounterReader(Protocol):
    async def daily_count(self, subject: str, kind: str, day: int) -> int:
        """How many ``kind`` events ``subject`` has had on ``day`` (days since the epoch, local time)."""
        ...


class CounterWriter(CounterReader, Protocol):
    async def bump_daily(self, subject: str, kind: str, day: int, limit: int) -> bool:
        """Count one event if fewer than ``limit`` are counted for that day; False (nothing counted) if not."""
        ...

    async def forget_daily_before(self, day: int) -> int:
        """Drop counters of days before ``day``; returns how many rows went."""
        ...


class OfferWriter(OfferReader, Protocol):
    async def insert_offer(self, offer: Offer) -> bool:
        """False if an offer with that id exists already."""
        ...

    async def close_offer(self, offer_id: str, status: OfferStatus) -> bool:
        """Move an open offer to ``status``; False if it was no longer open."""
        ...


class OutboxReader(Protocol):
    async def list_outbox(self, *, recipient: str | None = None, limit: int = 50) -> list[OutboxRow]:
        """Newest first."""
        ...


class OutboxWriter(OutboxReader, Protocol):
    async def add_outbox(self, messages: Sequence[OutboxMessage], *, folded: bool = False, due_at: int = 0) -> int:
        """Queue messages; a ``dedupe_key`` already queued is skipped. Returns rows added.

        ``folded`` stores them as :attr:`OutboxStatus.FOLDED` (kept, never
        sent); ``due_at`` (microseconds) holds them back until then. A message
        whose ``created_at`` is 0 is stamped with the store's clock. Services
        queue through :func:`engine.notifications.queue`, which applies the
        daily SMS cap, rather than calling this directly.
        """
        ...

    async def existing_outbox_keys(self, dedupe_keys: Sequence[str]) -> set[str]:
        """The keys among ``dedupe_keys`` that some outbox row has already, whatever its status."""
        ...

    async def count_outbox_since(
        self, recipients: Sequence[str], since_us: int, *, excluding_templates: Sequence[str]
    ) -> dict[str, int]:
        """Per recipient, rows created at or after ``since_us`` that are not folded, leaving out some templates.

        Holds each recipient's count until the transaction ends: a concurrent
        unit of work counting one of them waits for this one to commit, so a
        count followed by inserts stays exact. Recipients with no rows are absent.
        """
        ...


# --- SMS outbox delivery (claimed and marked by the delivery worker) ---------


class OutboxQueue(Protocol):
    """The delivery side of the outbox: each method is one short transaction of its own.

    A claim is a lease: it pushes the rows' ``next_attempt_at`` to ``now +
    lease_s`` and counts an attempt, without changing their status. A worker
    that dies holding a lease loses nothing: the rows fall due again when it
    ends (delivery is at least once). The ``attempt`` a mark names fences off a
    worker whose lease ran out and whose rows were claimed again meanwhile:
    its late mark changes nothing. Marks only move rows that are still
    pending or failed, so a sent, delivered or dead row never goes back.
    """

    async def claim_outbox(self, *, limit: int, lease_s: float) -> list[OutboxRow]:
        """Lease up to ``limit`` due rows (pending or failed, ``next_attempt_at <= now``), oldest due first.

        Never a folded row: those are over a recipient's daily cap and are not sent at all.

        Concurrent claimers (in any number of processes) never get the same row.
        """
        ...

    async def mark_outbox_sent(self, row_id: int, provider_ref: str, *, attempt: int | None = None) -> bool:
        """The provider accepted the message. False if the row was not ours to mark any more."""
        ...

    async def mark_outbox_retry(
        self, row_id: int, error: str, next_attempt_at: int, *, attempt: int | None = None
    ) -> bool:
        """Sending failed for now: status ``failed``, due again at ``next_attempt_at``."""
        ...

    async def mark_outbox_dead(self, row_id: int, error: str, *, attempt: int | None = None) -> bool:
        """Give up on the row: status ``dead`` with the reason."""
        ...

    async def record_delivery_report(self, provider_ref: str, *, delivered: bool, reason: str = "") -> bool:
        """The carrier's final word on a sent message: ``delivered``, or ``dead`` with ``reason``.

        Only a row in status ``sent`` changes; False for an unknown reference
        or a repeated report.
        """
        ...

    async def scrub_outbox_params(self, row_id: int, params: dict[str, str | int]) -> bool:
        """Overwrite a settled row's parameters (its secrets are no longer needed); False if not settled."""
        ...

    async def outbox_counts(self) -> dict[OutboxStatus, int]:
        """Rows per status, every status present."""
        ...


# --- end SMS outbox delivery --------------------------------------------------


class UssdAnalytics(Protocol):
    async def record_ussd_end(self, event: UssdSessionEnd) -> bool:
        """Keep one notification per session (a repeated one is ignored); True if new."""
        ...

    async def ussd_funnel(self) -> list[ScreenFunnel]:
        """Per last screen: sessions, completed (status Success) and dropped, most dropped first."""
        ...


class Transaction(LedgerWriter, UserWriter, ClusterWriter, OutboxWriter, OfferWriter, CounterWriter, Protocol):
    """Everything a unit of work may read and write, all in one database transaction."""


class Store(
    LedgerWriter,
    UserReader,
    ClusterReader,
    OutboxReader,
    OfferReader,
    CounterReader,
    OutboxQueue,
    UssdAnalytics,
    Protocol,
):
    """A database. Reads outside :meth:`atomic` see committed data only.

    The ledger write methods on the store itself each run in their own
    transaction; use :meth:`atomic` to combine writes.
    """

    backend: str

    async def atomic(self, work: Callable[[Transaction], Awaitable[T]]) -> T:
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
