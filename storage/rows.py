"""Row <-> record mapping shared by both backends (same column order in both schemas)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from engine.ledger.model import (
    UNSETTLED_FLAGS,
    Account,
    AccountFlags,
    AccountKind,
    Ledger,
    TransferFlags,
    TransferRecord,
)
from engine.model import (
    Cluster,
    ClusterKind,
    Language,
    Offer,
    OfferStatus,
    OutboxMessage,
    OutboxRow,
    OutboxStatus,
    User,
)

ACCOUNT_COLUMNS = (
    "id, ledger, kind, owner, flags, debits_pending, debits_posted, credits_pending, credits_posted, timestamp"
)
TRANSFER_COLUMNS = (
    "seq, id, debit_account_id, credit_account_id, amount, ledger, code, flags, pending_id, timeout_s, "
    "reference, timestamp, hash, req_debit_account, req_credit_account, req_amount, req_ledger"
)
# A transfers row that moved posted balances (``TransferRecord.settled`` in SQL): both backends
# sum settled movement with it, so a reservation and its post are never both counted.
SETTLED_TRANSFER = f"(flags & {int(UNSETTLED_FLAGS)}) = 0"
USER_COLUMNS = (
    "id, phone, name, language, pin_hash, pin_failures, pin_locked_until, created_at, "
    "pin_failures_total, pin_lock_stage, pin_must_change, hold_until"
)
CLUSTER_COLUMNS = "id, name, kind, region, capacity_wh, price_ngwee_per_kwh, created_at"
OFFER_COLUMNS = (
    "id, reference, seller_id, buyer_id, wh, price_ngwee_per_kwh, cost_ngwee, fee_ngwee, status, created_at, expires_at"
)
OUTBOX_COLUMNS = (
    "id, dedupe_key, recipient, language, template, params, status, attempts, next_attempt_at, "
    "last_error, provider_ref, created_at"
)

Row = Sequence[Any]


def account_from_row(r: Row) -> Account:
    return Account(
        id=r[0],
        ledger=Ledger(r[1]),
        kind=AccountKind(r[2]),
        owner=r[3],
        flags=AccountFlags(r[4]),
        debits_pending=r[5],
        debits_posted=r[6],
        credits_pending=r[7],
        credits_posted=r[8],
        timestamp=r[9],
    )


def account_values(a: Account) -> tuple[Any, ...]:
    return (
        a.id,
        str(a.ledger),
        str(a.kind),
        a.owner,
        int(a.flags),
        a.debits_pending,
        a.debits_posted,
        a.credits_pending,
        a.credits_posted,
        a.timestamp,
    )


def transfer_from_row(r: Row) -> TransferRecord:
    return TransferRecord(
        seq=r[0],
        id=r[1],
        debit_account_id=r[2],
        credit_account_id=r[3],
        amount=r[4],
        ledger=Ledger(r[5]),
        code=r[6],
        flags=TransferFlags(r[7]),
        pending_id=r[8],
        timeout_s=r[9],
        reference=r[10],
        timestamp=r[11],
        hash=r[12],
        request_debit_account_id=r[13],
        request_credit_account_id=r[14],
        request_amount=r[15],
        request_ledger=Ledger(r[16]) if r[16] else None,
    )


def transfer_values(t: TransferRecord) -> tuple[Any, ...]:
    return (
        t.seq,
        t.id,
        t.debit_account_id,
        t.credit_account_id,
        t.amount,
        str(t.ledger),
        int(t.code),
        int(t.flags),
        t.pending_id,
        t.timeout_s,
        t.reference,
        t.timestamp,
        t.hash,
        t.request_debit_account_id,
        t.request_credit_account_id,
        t.request_amount,
        str(t.request_ledger) if t.request_ledger else None,
    )


def user_from_row(r: Row) -> User:
    return User(
        id=r[0],
        phone=r[1],
        name=r[2],
        language=Language(r[3]),
        pin_hash=r[4],
        pin_failures=r[5],
        pin_locked_until=r[6],
        created_at=r[7],
        pin_failures_total=r[8],
        pin_lock_stage=r[9],
        pin_must_change=bool(r[10]),
        hold_until=r[11],
    )


def pin_state_values(u: User) -> tuple[int, int, int, int, int, int]:
    """The PIN-state columns in PIN_STATE_COLUMNS order."""
    return (
        u.pin_failures,
        u.pin_locked_until,
        u.pin_failures_total,
        u.pin_lock_stage,
        int(u.pin_must_change),
        u.hold_until,
    )


PIN_STATE_COLUMNS = (
    "pin_failures",
    "pin_locked_until",
    "pin_failures_total",
    "pin_lock_stage",
    "pin_must_change",
    "hold_until",
)


def cluster_from_row(r: Row) -> Cluster:
    return Cluster(
        id=r[0],
        name=r[1],
        kind=ClusterKind(r[2]),
        region=r[3],
        capacity_wh=r[4],
        price_ngwee_per_kwh=r[5],
        created_at=r[6],
    )


def cluster_values(c: Cluster) -> tuple[Any, ...]:
    return (c.id, c.name, str(c.kind), c.region, c.capacity_wh, c.price_ngwee_per_kwh, c.created_at)


def offer_from_row(r: Row) -> Offer:
    return Offer(
        id=r[0],
        reference=r[1],
        seller_id=r[2],
        buyer_id=r[3],
        wh=r[4],
        price_ngwee_per_kwh=r[5],
        cost_ngwee=r[6],
        fee_ngwee=r[7],
        status=OfferStatus(r[8]),
        created_at=r[9],
        expires_at=r[10],
    )


def offer_values(o: Offer) -> tuple[Any, ...]:
    return (
        o.id,
        o.reference,
        o.seller_id,
        o.buyer_id,
        o.wh,
        o.price_ngwee_per_kwh,
        o.cost_ngwee,
        o.fee_ngwee,
        str(o.status),
        o.created_at,
        o.expires_at,
    )


def outbox_from_row(r: Row) -> OutboxRow:
    message = OutboxMessage(
        dedupe_key=r[1],
        recipient=r[2],
        language=Language(r[3]),
        template=r[4],
        params=json.loads(r[5]),
        created_at=r[11],
    )
    return OutboxRow(
        id=r[0],
        message=message,
        status=OutboxStatus(r[6]),
        attempts=r[7],
        next_attempt_at=r[8],
        last_error=r[9],
        provider_ref=r[10],
    )


def outbox_params_json(message: OutboxMessage) -> str:
    return json.dumps(message.params, separators=(",", ":"), sort_keys=True)
