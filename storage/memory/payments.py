"""The in-memory payments and risk signals (engine.payments.ports): the answers of storage.repositories.payments.

One transaction writes at a time, so a claim is exclusive as on SQLite; the
schema's CHECK, UNIQUE and foreign-key constraints are checked where a bug
could break them (:class:`ConstraintViolation`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace

from engine.payments.model import FINAL_STATES, Direction, Payment, PaymentState, Provider
from engine.payments.ports import MoneyMoved, ProviderTotals
from storage.memory.ledger import ConstraintViolation
from storage.memory.tables import Tables
from storage.tables import PAYMENT_CHANGES, risk_detail_json

_NO_BOUND = 2**63 - 1  # as the SQL: no created_at reaches it
_DEAD = (PaymentState.FAILED, PaymentState.EXPIRED)  # nothing moved, nothing will


def _newest_first(payments: Iterable[Payment], limit: int) -> list[Payment]:
    return sorted(payments, key=lambda p: (p.created_at, p.id), reverse=True)[: max(limit, 0)]


def _oldest_first(payments: Iterable[Payment]) -> list[Payment]:
    return sorted(payments, key=lambda p: (p.created_at, p.id))


def _stored(payment: Payment) -> Payment:
    """``payment`` as the columns would hold it: enums by value, review a bool; refused like the CHECKs."""
    try:
        stored = replace(
            payment,
            direction=Direction(payment.direction),
            provider=Provider(payment.provider),
            state=PaymentState(payment.state),
            review=bool(payment.review),
        )
    except ValueError as exc:
        raise ConstraintViolation(f"payment {payment.id!r}: {exc}") from exc
    if stored.amount_ngwee <= 0 or min(stored.next_check_at, stored.checks, stored.version) < 0:
        raise ConstraintViolation(f"payment {payment.id!r}: amount, next check, checks or version out of range")
    return stored


class MemoryPayments:
    """engine.payments.ports.PaymentWriter (its reads alone on a database's committed tables)."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    # --- reads ------------------------------------------------------------------

    async def payment_by_id(self, payment_id: str) -> Payment | None:
        return self._t.payments.get(payment_id)

    async def payment_by_attempt(self, provider: Provider, attempt_id: str) -> Payment | None:
        if not attempt_id:
            return None
        found = (p for p in self._t.payments.values() if p.provider is provider and p.attempt_id == attempt_id)
        return next(found, None)

    async def payments_by_ids(self, payment_ids: Sequence[str]) -> dict[str, Payment]:
        found = ((i, self._t.payments.get(i)) for i in payment_ids)
        return {i: p for i, p in found if p is not None}

    async def payments_for_user(self, user_id: int, *, limit: int = 20, before_us: int | None = None) -> list[Payment]:
        before = _NO_BOUND if before_us is None else before_us
        mine = (
            p for p in self._t.payments.values() if user_id in (p.user_id, p.counterparty_id) and p.created_at < before
        )
        return _newest_first(mine, limit)

    async def payments_in_review(self, *, limit: int = 50) -> list[Payment]:
        return _oldest_first(p for p in self._t.payments.values() if p.review)[: max(limit, 0)]

    async def payments_between(self, provider: Provider, *, since_us: int, until_us: int) -> list[Payment]:
        return _oldest_first(
            p for p in self._t.payments.values() if p.provider == provider and since_us <= p.created_at < until_us
        )

    async def money_moved(self, user_id: int, *, since_us: int) -> MoneyMoved:
        moved = dict.fromkeys(Direction, 0)
        pending_deposits = 0
        for p in self._t.payments.values():
            if p.user_id != user_id or p.created_at < since_us or p.state in _DEAD:
                continue
            moved[p.direction] += p.amount_ngwee
            if p.direction is Direction.DEPOSIT and p.state is not PaymentState.SUCCESSFUL:
                pending_deposits += p.amount_ngwee
        return MoneyMoved(
            deposits=moved[Direction.DEPOSIT],
            withdrawals=moved[Direction.WITHDRAWAL],
            sent=moved[Direction.TRANSFER],
            pending_deposits=pending_deposits,
        )

    async def senders_to(self, user_id: int, *, since_us: int) -> int:
        return len(
            {
                p.user_id
                for p in self._t.payments.values()
                if p.counterparty_id == user_id
                and p.direction is Direction.TRANSFER
                and p.created_at >= since_us
                and p.state not in _DEAD
            }
        )

    async def withdrawals_succeeded(self, user_id: int) -> int:
        return sum(
            1
            for p in self._t.payments.values()
            if p.user_id == user_id and p.direction is Direction.WITHDRAWAL and p.state is PaymentState.SUCCESSFUL
        )

    async def provider_totals(self, provider: Provider) -> ProviderTotals:
        ngwee, count = dict.fromkeys(Direction, 0), dict.fromkeys(Direction, 0)
        for p in self._t.payments.values():
            if p.provider == provider and p.state is PaymentState.SUCCESSFUL:
                ngwee[p.direction] += p.amount_ngwee
                count[p.direction] += 1
        deposit, withdrawal = Direction.DEPOSIT, Direction.WITHDRAWAL
        return ProviderTotals(Provider(provider), ngwee[deposit], count[deposit], ngwee[withdrawal], count[withdrawal])

    async def count_payments(self) -> dict[str, int]:
        counts = dict.fromkeys((str(s) for s in PaymentState), 0)
        counts["review"] = 0
        for p in self._t.payments.values():
            counts[str(p.state)] += 1
            counts["review"] += int(p.review)
        return counts

    # --- writes -----------------------------------------------------------------

    async def insert_payment(self, payment: Payment) -> bool:
        stored = _stored(payment)  # CHECKs come before the conflict, as in both databases
        if stored.id in self._t.payments:
            return False
        for user_id in (stored.user_id, stored.counterparty_id):
            if user_id is not None and user_id not in self._t.users:
                raise ConstraintViolation(f"payment {payment.id!r}: no user {user_id}")
        self._claim_attempt(stored)
        self._t.payments.put(stored.id, stored)
        return True

    async def update_payment(self, payment: Payment) -> bool:
        current = self._t.payments.get(payment.id)
        if current is None or current.version != payment.version:
            return False
        changes = {name: getattr(payment, name) for name in PAYMENT_CHANGES}
        stored = _stored(replace(current, **changes, version=payment.version + 1))
        if (stored.provider, stored.attempt_id) != (current.provider, current.attempt_id):
            self._claim_attempt(stored)
            if current.attempt_id:
                self._t.payment_attempts.delete((str(current.provider), current.attempt_id))
        self._t.payments.put(stored.id, stored)
        return True

    async def claim_due_payments(self, *, now_us: int, lease_until_us: int, limit: int) -> list[Payment]:
        due = sorted(
            (
                p
                for p in self._t.payments.values()
                if p.state not in FINAL_STATES and not p.review and 0 < p.next_check_at <= now_us
            ),
            key=lambda p: (p.next_check_at, p.id),
        )[: max(limit, 0)]
        leased = [replace(p, next_check_at=lease_until_us, version=p.version + 1) for p in due]
        for p in leased:
            self._t.payments.put(p.id, p)
        return sorted(leased, key=lambda p: p.id)

    def _claim_attempt(self, payment: Payment) -> None:
        """The partial unique index on (provider, attempt_id) where attempt_id is not empty."""
        if not payment.attempt_id:
            return
        key = (str(payment.provider), payment.attempt_id)
        holder = self._t.payment_attempts.get(key)
        if holder is not None and holder != payment.id:
            raise ConstraintViolation(f"attempt {payment.attempt_id!r} of {payment.provider} belongs to {holder!r}")
        self._t.payment_attempts.put(key, payment.id)


class MemoryRisk:
    """engine.payments.ports.RiskSignals: appended in the transaction, gone with it on rollback."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def record_risk_signal(self, *, kind: str, user_id: int, detail: dict[str, str | int], at_us: int) -> None:
        if user_id not in self._t.users:
            raise ConstraintViolation(f"risk signal {kind!r}: no user {user_id}")
        # Through JSON like the real column, so what is kept is what a database would keep.
        stored: dict[str, str | int] = json.loads(risk_detail_json(detail))
        signal_id = self._t.next_id("risk_signals")
        self._t.risk_signals.put(signal_id, (signal_id, kind, user_id, stored, at_us))
