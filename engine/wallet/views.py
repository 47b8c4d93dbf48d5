"""Wallet views: balances, history and the mini-statement as a user sees them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from engine.identity.model import User
from engine.kernel.config import EngineConfig
from engine.kernel.errors import TransactionNotFound
from engine.ledger.accounts import CLUSTER_OWNER, USER_OWNER
from engine.ledger.model import Ledger, TransferCode, TransferRecord
from engine.wallet.ports import WalletReads


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


class StatementKind(enum.StrEnum):
    """What one operation was, from the statement owner's side."""

    CLUSTER_PURCHASE = "cluster_purchase"  # energy bought from a solar cluster
    BOUGHT = "bought"  # energy bought from a person (a trade or an accepted offer)
    SOLD = "sold"  # energy sold to a person
    GIFT_RECEIVED = "gift_received"
    GIFT_SENT = "gift_sent"
    WELCOME_BONUS = "welcome_bonus"  # the starting credit
    DEPOSIT = "deposit"  # from mobile money
    WITHDRAWAL = "withdrawal"  # to mobile money, paid out
    MONEY_SENT = "money_sent"  # to another wallet
    MONEY_RECEIVED = "money_received"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One operation on a mini-statement: every transfer sharing its reference, netted."""

    reference: str
    timestamp: int  # of its newest transfer
    kind: StatementKind
    counterparty: str  # "Chipo P." for a person, a cluster's name, "" when there is none
    wh: int  # signed from the owner's side: + received, - passed on
    ngwee: int  # signed: + received, - paid (a buyer's fee included)


@dataclass(frozen=True, slots=True)
class HistoryPage:
    entries: list[HistoryEntry]
    next_before_seq: int | None  # pass back to get the next (older) page


class WalletService:
    def __init__(self, reads: WalletReads, config: EngineConfig) -> None:
        self._reads = reads
        self._config = config

    async def balances(self, user: User) -> Balances:
        accounts = await self._reads.ledger.lookup_accounts([user.zmw_account_id, user.kwh_account_id])
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
            records = await self._reads.ledger.account_transfers(list(mine), limit=size + 1, before_seq=cursor)
            found += [_entry(r, mine) for r in records if r.settled]
            if len(records) <= size:
                break
            cursor = records[-1].seq
        page = found[:size]
        return HistoryPage(page, page[-1].seq if len(found) > size else None)

    async def transaction(self, reference: str, *, viewer: User | None) -> list[TransferRecord]:
        """Every transfer of the operation with ``reference``, in the order applied.

        A user (``viewer``) sees only operations that touched their own wallet;
        without a viewer (an operator) any. Otherwise :class:`TransactionNotFound`,
        the same answer as for a reference that does not exist, so references
        cannot be probed.
        """
        records = await self._reads.ledger.transfers_with_reference(reference)
        if viewer is not None:
            mine = {viewer.zmw_account_id, viewer.kwh_account_id}
            if not any(r.debit_account_id in mine or r.credit_account_id in mine for r in records):
                records = []
        if not records:
            raise TransactionNotFound("no transaction with that reference", reference=reference)
        return records

    async def statement(self, user: User, limit: int | None = None) -> list[StatementLine]:
        """The newest ``limit`` operations, one line each, newest first.

        Transfers sharing a reference are one operation (a trade's energy,
        payment and fee are one line). Only settled movement shows: an offer
        appears once accepted, and a reservation that was declined or expired
        not at all.
        """
        size = limit or self._config.history_page_size
        mine = (user.zmw_account_id, user.kwh_account_id)
        operations: dict[str, list[TransferRecord]] = {}
        batch = size * 3 + 1  # an operation touches one user with at most three transfers
        cursor: int | None = None
        complete = False
        while not complete:
            records = await self._reads.ledger.account_transfers(list(mine), limit=batch, before_seq=cursor)
            for record in records:
                if not record.settled:
                    continue
                key = record.reference or record.id  # a transfer made without a reference stands alone
                if key not in operations and len(operations) == size:
                    # An operation's transfers are applied in one batch, so their seqs are
                    # consecutive: a transfer of one more operation means the others are whole.
                    complete = True
                    break
                operations.setdefault(key, []).append(record)
            if len(records) < batch:
                break
            cursor = records[-1].seq
        lines = [_line(reference, group, mine) for reference, group in operations.items()]
        names = await self._names({account for _, account in lines if account})
        return [replace(line, counterparty=names.get(account, "?")) if account else line for line, account in lines]

    async def _names(self, account_ids: set[str]) -> dict[str, str]:
        """What a statement calls the owner of each account: a person's short name or a cluster's name.

        One read for the accounts, one for all the people and one for all the clusters among them,
        however many lines the statement has.
        """
        accounts = await self._reads.ledger.lookup_accounts(sorted(account_ids))
        people: dict[str, int] = {}
        places: dict[str, str] = {}
        for account_id, account in accounts.items():
            owner = account.owner or ""
            if owner.startswith(USER_OWNER) and owner[len(USER_OWNER) :].isdigit():
                people[account_id] = int(owner[len(USER_OWNER) :])
            elif owner.startswith(CLUSTER_OWNER):
                places[account_id] = owner[len(CLUSTER_OWNER) :]
        persons = await self._reads.users.users_by_ids(sorted(set(people.values()))) if people else {}
        clusters = await self._reads.clusters.clusters_by_ids(sorted(set(places.values()))) if places else {}
        names = {a: short_name(persons[i].name) for a, i in people.items() if i in persons}
        names |= {a: clusters[i].name for a, i in places.items() if i in clusters}
        return names


def short_name(name: str) -> str:
    """A person as others see them on a statement: first name and last initial (``Chipo P.``)."""
    parts = name.split()
    if len(parts) < 2:
        return parts[0] if parts else ""
    return f"{parts[0]} {parts[-1][0].upper()}."


def _line(reference: str, group: list[TransferRecord], mine: tuple[str, ...]) -> tuple[StatementLine, str]:
    """The line for one operation, and the account of whoever it was with ("" for none)."""
    wh = ngwee = 0
    for record in group:
        signed = -record.amount if record.debit_account_id in mine else record.amount
        if record.ledger is Ledger.KWH:
            wh += signed
        else:
            ngwee += signed
    codes = {record.code for record in group}
    energy = next((r for r in group if r.ledger is Ledger.KWH), None)
    other = ""
    if energy is not None:
        other = energy.credit_account_id if energy.debit_account_id in mine else energy.debit_account_id
    received = wh > 0
    if TransferCode.ENERGY_TRADE in codes or TransferCode.MARKET_ENERGY in codes or TransferCode.MARKET_ASK in codes:
        kind = StatementKind.BOUGHT if received else StatementKind.SOLD
    elif TransferCode.ENERGY_GIFT in codes:
        kind = StatementKind.GIFT_RECEIVED if received else StatementKind.GIFT_SENT
    elif TransferCode.CLUSTER_ENERGY in codes:
        kind = StatementKind.CLUSTER_PURCHASE
    elif codes == {TransferCode.STARTING_CREDIT}:
        kind, other = StatementKind.WELCOME_BONUS, ""
    elif TransferCode.DEPOSIT in codes:
        kind = StatementKind.DEPOSIT
    elif TransferCode.WITHDRAWAL in codes:  # only its post is settled: a reservation shows once paid out
        kind = StatementKind.WITHDRAWAL
    elif TransferCode.MONEY_TRANSFER in codes:
        send = next(r for r in group if r.code == TransferCode.MONEY_TRANSFER)
        mine_sent = send.debit_account_id in mine
        kind = StatementKind.MONEY_SENT if mine_sent else StatementKind.MONEY_RECEIVED
        other = send.credit_account_id if mine_sent else send.debit_account_id
    else:
        kind, other = StatementKind.OTHER, ""
    return StatementLine(reference, group[0].timestamp, kind, "", wh, ngwee), other


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
