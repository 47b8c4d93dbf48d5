"""Wallet views: balances and history as a user sees them."""

from __future__ import annotations

from dataclasses import dataclass

from engine.config import EngineConfig
from engine.ledger.model import Ledger, TransferFlags, TransferRecord
from engine.model import User
from engine.ports import Store


@dataclass(frozen=True, slots=True)
class Balances:
    ngwee: int  # spendable money
    wh: int  # spendable energy
    ngwee_reserved: int = 0  # held by pending transfers
    wh_reserved: int = 0


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    seq: int
    timestamp: int
    reference: str
    code: int
    ledger: Ledger
    amount: int  # signed from the user's side: + received, - paid or given
    counterparty: str  # the other account's id

    @property
    def incoming(self) -> bool:
        return self.amount > 0


@dataclass(frozen=True, slots=True)
class HistoryPage:
    entries: list[HistoryEntry]
    next_before_seq: int | None  # pass back to get the next (older) page


class WalletService:
    def __init__(self, store: Store, config: EngineConfig) -> None:
        self._store = store
        self._config = config

    async def balances(self, user: User) -> Balances:
        accounts = await self._store.lookup_accounts([user.zmw_account_id, user.kwh_account_id])
        zmw, kwh = accounts.get(user.zmw_account_id), accounts.get(user.kwh_account_id)
        return Balances(
            ngwee=zmw.available if zmw else 0,
            wh=kwh.available if kwh else 0,
            ngwee_reserved=zmw.debits_pending if zmw else 0,
            wh_reserved=kwh.debits_pending if kwh else 0,
        )

    async def history(self, user: User, *, limit: int | None = None, before_seq: int | None = None) -> HistoryPage:
        """Settled movements newest first; page with ``next_before_seq``.

        Reservations and their release are left out: an offer shows once, when
        it is paid (as the post of its reservation), not three times.
        """
        size = limit or self._config.history_page_size
        mine = (user.zmw_account_id, user.kwh_account_id)
        found: list[HistoryEntry] = []
        cursor = before_seq
        while len(found) <= size:
            records = await self._store.account_transfers(list(mine), limit=size + 1, before_seq=cursor)
            found += [_entry(r, mine) for r in records if not r.flags & _UNSETTLED]
            if len(records) <= size:
                break
            cursor = records[-1].seq
        page = found[:size]
        return HistoryPage(page, page[-1].seq if len(found) > size else None)


_UNSETTLED = TransferFlags.PENDING | TransferFlags.VOID_PENDING | TransferFlags.EXPIRE_PENDING


def _entry(record: TransferRecord, mine: tuple[str, ...]) -> HistoryEntry:
    outgoing = record.debit_account_id in mine
    return HistoryEntry(
        seq=record.seq,
        timestamp=record.timestamp,
        reference=record.reference,
        code=record.code,
        ledger=record.ledger,
        amount=-record.amount if outgoing else record.amount,
        counterparty=record.credit_account_id if outgoing else record.debit_account_id,
    )
