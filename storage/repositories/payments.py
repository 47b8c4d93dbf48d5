"""The payments context's repositories, written once for SQLite and PostgreSQL (engine.payments.ports).

Every change to a payment is a compare-and-set on its ``version``: an
update names the version it read and bumps it, so of two writers acting on
one payment (a worker's poll, a provider's callback) only the first wins.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.payments.model import Payment, PaymentState, Provider
from engine.payments.ports import MoneyMoved, ProviderTotals
from storage.dialect import Executor, sql
from storage.tables import PAYMENT_CHANGES, PAYMENTS, RISK_SIGNALS, risk_detail_json

# A payment's history reaches back to "no bound" with this (every created_at is below it).
_NO_BOUND = 2**63 - 1
# Neither failed nor expired: what was moved, or may still be.
_LIVE = "state NOT IN ('failed', 'expired')"
_NEWEST_FIRST = "ORDER BY created_at DESC, id DESC"

_BY_ID = sql(f"SELECT {PAYMENTS.select} FROM payments WHERE id = $1")
_BY_ATTEMPT = sql(
    f"SELECT {PAYMENTS.select} FROM payments WHERE provider = $1 AND attempt_id = $2 AND attempt_id <> ''"
)
_BY_IDS = sql(f"SELECT {PAYMENTS.select} FROM payments WHERE id = ANY($1::text[])")
# What a user started, and the sends they received, each read newest first down its own
# index (payments_user, payments_counterparty) and merged: an OR would read neither in order.
# A send to oneself is listed once (from the first part).
_FOR_USER = sql(
    f"SELECT {PAYMENTS.select} FROM ("
    f"SELECT * FROM (SELECT {PAYMENTS.select} FROM payments WHERE user_id = $1 AND created_at < $2 "
    f"{_NEWEST_FIRST} LIMIT $3) AS started "
    "UNION ALL "
    f"SELECT * FROM (SELECT {PAYMENTS.select} FROM payments WHERE counterparty_id = $1 AND user_id <> $1 "
    f"AND created_at < $2 {_NEWEST_FIRST} LIMIT $3) AS received"
    f") AS mine {_NEWEST_FIRST} LIMIT $3"
)
_IN_REVIEW = sql(f"SELECT {PAYMENTS.select} FROM payments WHERE review = 1 ORDER BY created_at, id LIMIT $1")
_BETWEEN = sql(
    f"SELECT {PAYMENTS.select} FROM payments WHERE provider = $1 AND created_at >= $2 AND created_at < $3 "
    "ORDER BY created_at, id"
)
# SUM of BIGINT is NUMERIC on PostgreSQL: cast back, so the answer is an integer on both.
_MONEY_MOVED = sql(
    "SELECT COALESCE(SUM(amount_ngwee) FILTER (WHERE direction = 'deposit'), 0)::bigint, "
    "COALESCE(SUM(amount_ngwee) FILTER (WHERE direction = 'withdrawal'), 0)::bigint, "
    "COALESCE(SUM(amount_ngwee) FILTER (WHERE direction = 'transfer'), 0)::bigint, "
    "COALESCE(SUM(amount_ngwee) FILTER (WHERE direction = 'deposit' AND state <> 'successful'), 0)::bigint "
    f"FROM payments WHERE user_id = $1 AND created_at >= $2 AND {_LIVE}"
)
_SENDERS_TO = sql(
    "SELECT COUNT(DISTINCT user_id) FROM payments "
    f"WHERE counterparty_id = $1 AND direction = 'transfer' AND created_at >= $2 AND {_LIVE}"
)
_WITHDRAWALS_SUCCEEDED = sql(
    "SELECT COUNT(*) FROM payments WHERE user_id = $1 AND direction = 'withdrawal' AND state = 'successful'"
)
_PROVIDER_TOTALS = sql(
    "SELECT COALESCE(SUM(amount_ngwee) FILTER (WHERE direction = 'deposit'), 0)::bigint, "
    "COUNT(*) FILTER (WHERE direction = 'deposit'), "
    "COALESCE(SUM(amount_ngwee) FILTER (WHERE direction = 'withdrawal'), 0)::bigint, "
    "COUNT(*) FILTER (WHERE direction = 'withdrawal') "
    "FROM payments WHERE provider = $1 AND state = 'successful'"
)
_COUNTS = sql("SELECT state, COUNT(*), COUNT(*) FILTER (WHERE review = 1) FROM payments GROUP BY state")

_INSERT = sql(f"{PAYMENTS.insert} ON CONFLICT (id) DO NOTHING")
# $1 id, $2 the version read, $3.. the changes, then the new version.
_UPDATE = sql(
    f"UPDATE payments SET {PAYMENTS.assignments(PAYMENT_CHANGES, first=3)}, "
    f"version = ${len(PAYMENT_CHANGES) + 3} WHERE id = $1 AND version = $2"
)
_changes = PAYMENTS.getter(*PAYMENT_CHANGES)
# A lease on the oldest due payments in one statement (as the outbox's claim). On
# PostgreSQL SKIP LOCKED passes over rows another claimer holds; a row whose lease
# committed after this statement's snapshot is re-checked once locked (READ
# COMMITTED) and dropped, its next_check_at no longer due. The subquery runs once,
# so LIMIT bounds the rows leased; its WHERE repeats payments_due's predicate, so
# both databases read that index. On SQLite the database write lock makes it exclusive.
_CLAIM = sql(
    "UPDATE payments AS p SET next_check_at = $2, version = p.version + 1 "
    "FROM (SELECT id AS due_id FROM payments "
    "WHERE state NOT IN ('successful', 'failed', 'expired') AND review = 0 "
    "AND next_check_at <= $1 AND next_check_at > 0 "
    "ORDER BY next_check_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) AS due "
    f"WHERE p.id = due.due_id RETURNING {PAYMENTS.select}"
)
_RECORD_SIGNAL = sql(RISK_SIGNALS.insert)


class PaymentReads:
    """engine.payments.ports.PaymentReader over one executor."""

    def __init__(self, db: Executor) -> None:
        self._db = db

    async def payment_by_id(self, payment_id: str) -> Payment | None:
        row = await self._db.fetch_one(_BY_ID, payment_id)
        return PAYMENTS.record(row) if row is not None else None

    async def payment_by_attempt(self, provider: Provider, attempt_id: str) -> Payment | None:
        row = await self._db.fetch_one(_BY_ATTEMPT, str(provider), attempt_id)
        return PAYMENTS.record(row) if row is not None else None

    async def payments_by_ids(self, payment_ids: Sequence[str]) -> dict[str, Payment]:
        if not payment_ids:
            return {}
        payments = (PAYMENTS.record(r) for r in await self._db.fetch(_BY_IDS, list(payment_ids)))
        return {p.id: p for p in payments}

    async def payments_for_user(self, user_id: int, *, limit: int = 20, before_us: int | None = None) -> list[Payment]:
        before = _NO_BOUND if before_us is None else before_us
        rows = await self._db.fetch(_FOR_USER, user_id, before, max(limit, 0))
        return [PAYMENTS.record(r) for r in rows]

    async def payments_in_review(self, *, limit: int = 50) -> list[Payment]:
        return [PAYMENTS.record(r) for r in await self._db.fetch(_IN_REVIEW, max(limit, 0))]

    async def payments_between(self, provider: Provider, *, since_us: int, until_us: int) -> list[Payment]:
        rows = await self._db.fetch(_BETWEEN, str(provider), since_us, until_us)
        return [PAYMENTS.record(r) for r in rows]

    async def money_moved(self, user_id: int, *, since_us: int) -> MoneyMoved:
        row = await self._db.fetch_one(_MONEY_MOVED, user_id, since_us)
        assert row is not None
        deposits, withdrawals, sent, pending_deposits = (int(v) for v in row)
        return MoneyMoved(deposits, withdrawals, sent, pending_deposits)

    async def senders_to(self, user_id: int, *, since_us: int) -> int:
        row = await self._db.fetch_one(_SENDERS_TO, user_id, since_us)
        assert row is not None
        return int(row[0])

    async def withdrawals_succeeded(self, user_id: int) -> int:
        row = await self._db.fetch_one(_WITHDRAWALS_SUCCEEDED, user_id)
        assert row is not None
        return int(row[0])

    async def provider_totals(self, provider: Provider) -> ProviderTotals:
        row = await self._db.fetch_one(_PROVIDER_TOTALS, str(provider))
        assert row is not None
        deposits_ngwee, deposits, withdrawals_ngwee, withdrawals = (int(v) for v in row)
        return ProviderTotals(Provider(provider), deposits_ngwee, deposits, withdrawals_ngwee, withdrawals)

    async def count_payments(self) -> dict[str, int]:
        counts = dict.fromkeys((str(s) for s in PaymentState), 0)
        counts["review"] = 0
        for state, count, in_review in await self._db.fetch(_COUNTS):
            counts[str(state)] = int(count)
            counts["review"] += int(in_review)
        return counts


class PaymentRepository(PaymentReads):
    """engine.payments.ports.PaymentWriter inside one open transaction."""

    async def insert_payment(self, payment: Payment) -> bool:
        return await self._db.execute(_INSERT, *PAYMENTS.values(payment)) == 1

    async def update_payment(self, payment: Payment) -> bool:
        changed = await self._db.execute(_UPDATE, payment.id, payment.version, *_changes(payment), payment.version + 1)
        return changed == 1

    async def claim_due_payments(self, *, now_us: int, lease_until_us: int, limit: int) -> list[Payment]:
        if limit <= 0:
            return []
        rows = await self._db.fetch(_CLAIM, now_us, lease_until_us, limit)
        return sorted((PAYMENTS.record(r) for r in rows), key=lambda p: p.id)


class RiskRepository:
    """engine.payments.ports.RiskSignals inside one open transaction (append only)."""

    def __init__(self, db: Executor) -> None:
        self._db = db

    async def record_risk_signal(self, *, kind: str, user_id: int, detail: dict[str, str | int], at_us: int) -> None:
        await self._db.execute(_RECORD_SIGNAL, kind, user_id, risk_detail_json(detail), at_us)
