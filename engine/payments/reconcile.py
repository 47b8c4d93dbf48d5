"""Reconciliation: our payments against a provider's statement, and our ledger against our payments.

Three views must agree: the provider's statement, our payments, and the
ledger's clearing account for that provider. A statement line is matched to
a payment by our id (the external id we gave the provider), then compared by
amount, number, direction and outcome; every difference is reported, none
is corrected here (an operator decides, see ``enerlectra payments review``).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

from engine.ledger.ports import LedgerReader
from engine.payments.accounts import clearing_account
from engine.payments.model import Direction, Payment, PaymentState, Provider
from engine.payments.ports import PaymentReader


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One transaction as the provider's statement shows it."""

    external_id: str
    provider_txn_id: str
    msisdn: str  # E.164
    amount_ngwee: int
    direction: Direction
    successful: bool


class Difference(enum.StrEnum):
    ONLY_AT_PROVIDER = "only_at_provider"  # a successful line we have no payment for
    ONLY_WITH_US = "only_with_us"  # a payment we think succeeded, missing from the statement
    OUTCOME = "outcome"  # one side says successful, the other not
    AMOUNT = "amount"
    NUMBER = "number"
    DIRECTION = "direction"


@dataclass(frozen=True, slots=True)
class Discrepancy:
    difference: Difference
    external_id: str
    ours: str
    theirs: str


@dataclass(slots=True)
class ReconcileReport:
    provider: Provider
    matched: int = 0
    differences: list[Discrepancy] = field(default_factory=list)
    statement_net_ngwee: int = 0  # successful deposits less withdrawals on the statement
    payments_net_ngwee: int = 0  # the same, from our payments in the period
    ledger_net_ngwee: int = 0  # minus the clearing account's balance (all time)
    payments_total_net_ngwee: int = 0  # our payments' net, all time (must equal the ledger's)

    @property
    def clean(self) -> bool:
        return not self.differences and self.ledger_net_ngwee == self.payments_total_net_ngwee


def _net(direction: Direction, amount: int) -> int:
    return amount if direction is Direction.DEPOSIT else -amount


def compare(provider: Provider, ours: Sequence[Payment], lines: Sequence[StatementLine]) -> ReconcileReport:
    """Match statement ``lines`` to our payments ``ours`` (the same period) and list every difference."""
    report = ReconcileReport(provider)
    by_id = {p.id: p for p in ours}
    seen: set[str] = set()
    for line in lines:
        if line.successful:
            report.statement_net_ngwee += _net(line.direction, line.amount_ngwee)
        payment = by_id.get(line.external_id)
        if payment is None:
            if line.successful:
                report.differences.append(
                    Discrepancy(Difference.ONLY_AT_PROVIDER, line.external_id, "", f"{line.amount_ngwee}")
                )
            continue
        seen.add(payment.id)
        before = len(report.differences)
        ok = payment.state is PaymentState.SUCCESSFUL
        if ok != line.successful:
            report.differences.append(
                Discrepancy(
                    Difference.OUTCOME,
                    payment.id,
                    str(payment.state),
                    "successful" if line.successful else "not successful",
                )
            )
        if payment.amount_ngwee != line.amount_ngwee:
            report.differences.append(
                Discrepancy(Difference.AMOUNT, payment.id, str(payment.amount_ngwee), str(line.amount_ngwee))
            )
        if payment.msisdn != line.msisdn:
            report.differences.append(Discrepancy(Difference.NUMBER, payment.id, payment.msisdn, line.msisdn))
        if payment.direction is not line.direction:
            report.differences.append(
                Discrepancy(Difference.DIRECTION, payment.id, str(payment.direction), str(line.direction))
            )
        if len(report.differences) == before:
            report.matched += 1
    for payment in ours:
        if payment.state is PaymentState.SUCCESSFUL:
            report.payments_net_ngwee += _net(payment.direction, payment.amount_ngwee)
            if payment.id not in seen:
                report.differences.append(
                    Discrepancy(Difference.ONLY_WITH_US, payment.id, str(payment.amount_ngwee), "")
                )
    return report


async def reconcile(
    payments: PaymentReader,
    ledger: LedgerReader,
    provider: Provider,
    lines: Sequence[StatementLine],
    *,
    since_us: int,
    until_us: int,
) -> ReconcileReport:
    """Compare a statement for [since, until) with our payments, and our ledger with our payments."""
    ours = await payments.payments_between(provider, since_us=since_us, until_us=until_us)
    report = compare(provider, ours, lines)
    totals = await payments.provider_totals(provider)
    report.payments_total_net_ngwee = totals.deposits_ngwee - totals.withdrawals_ngwee
    account = (await ledger.lookup_accounts([clearing_account(provider)])).get(clearing_account(provider))
    report.ledger_net_ngwee = -account.balance if account is not None else 0
    return report
