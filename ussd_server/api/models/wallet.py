"""Balances, history, the mini-statement and transactions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from engine.ledger.model import Ledger, TransferCode, TransferRecord
from engine.payments.model import Direction, Payment
from engine.wallet.views import Balances, HistoryEntry, StatementKind, StatementLine
from ussd_server.api.models.common import Money, Query, View, at


class Reserved(View):
    money: Money
    energy_wh: int


class Wallet(View):
    money: Money = Field(description="spendable money")
    energy_wh: int = Field(description="spendable energy in Wh")
    reserved: Reserved = Field(description="held by offers waiting for an answer")

    @classmethod
    def of(cls, balances: Balances) -> Wallet:
        return cls(
            money=Money.of(balances.ngwee),
            energy_wh=balances.wh,
            reserved=Reserved(money=Money.of(balances.ngwee_reserved), energy_wh=balances.wh_reserved),
        )


class HistoryQuery(Query):
    limit: int = Field(default=10, ge=1, le=50)
    cursor: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$", description="`meta.next_cursor` of the previous page"
    )


class Movement(View):
    """One settled transfer touching the wallet: money or energy, signed from the owner's side."""

    reference: str
    at: datetime
    code: str = Field(description="what it was for, e.g. `cluster_energy`, `energy_payment`, `starting_credit`")
    money: Money | None = Field(description="set for money: + received, - paid")
    energy_wh: int | None = Field(description="set for energy: + received, - given")

    @classmethod
    def of(cls, entry: HistoryEntry) -> Movement:
        money = entry.ledger is Ledger.ZMW
        return cls(
            reference=entry.reference,
            at=at(entry.timestamp),
            code=TransferCode.label(entry.code),
            money=Money.of(entry.amount) if money else None,
            energy_wh=None if money else entry.amount,
        )


StatementKindText = Literal[
    "cluster_purchase",
    "bought",
    "sold",
    "gift_received",
    "gift_sent",
    "welcome_bonus",
    "deposit",
    "withdrawal",
    "money_sent",
    "money_received",
    "other",
]


def _kind(line: StatementLine, payment: Payment | None, viewer_id: int | None) -> StatementKindText:
    """The line's kind; mobile money (the ledger's "other") by its payment."""
    if payment is None or line.kind is not StatementKind.OTHER:
        return StatementKind(line.kind).value
    if payment.direction is Direction.TRANSFER:
        return "money_sent" if payment.user_id == viewer_id else "money_received"
    return "deposit" if payment.direction is Direction.DEPOSIT else "withdrawal"


class StatementEntry(View):
    """One operation (a trade's energy, payment and fee together), as on the USSD mini-statement."""

    reference: str
    at: datetime
    kind: StatementKindText
    counterparty: str = Field(description="a person's short name (`Chipo P.`), a cluster's name, or empty")
    energy_wh: int
    money: Money

    @classmethod
    def of(cls, line: StatementLine, payment: Payment | None = None, viewer_id: int | None = None) -> StatementEntry:
        return cls(
            reference=line.reference,
            at=at(line.timestamp),
            kind=_kind(line, payment, viewer_id),
            counterparty=line.counterparty,
            energy_wh=line.wh,
            money=Money.of(line.ngwee),
        )


class TransferView(View):
    at: datetime
    code: str
    money: Money | None
    energy_wh: int | None
    from_account: str
    to_account: str
    pending: bool = Field(description="a reservation (e.g. an offer's energy) rather than settled movement")

    @classmethod
    def of(cls, record: TransferRecord) -> TransferView:
        money = record.ledger is Ledger.ZMW
        return cls(
            at=at(record.timestamp),
            code=TransferCode.label(record.code),
            money=Money.of(record.amount) if money else None,
            energy_wh=None if money else record.amount,
            from_account=record.debit_account_id,
            to_account=record.credit_account_id,
            pending=not record.settled,
        )


class Transaction(View):
    reference: str
    transfers: list[TransferView]
