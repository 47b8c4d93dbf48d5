"""KYC tier limits: per transaction, per local day, per local month, and the wallet's balance cap.

Checked inside the unit of work that creates the payment, after the user's
row is locked, so two payments started at once cannot both squeeze under a
limit. Pending payments count as if they had succeeded: a limit is about
what may move, not what has finished moving.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.identity.model import User
from engine.kernel.clock import MICROS_PER_SECOND
from engine.kernel.errors import AmountNotPositive, BelowMinimum, PaymentLimitReached
from engine.kernel.local_time import local_day_start_us
from engine.ledger.ports import LedgerReader
from engine.payments.config import PaymentConfig, TierLimits
from engine.payments.ports import MoneyMoved, PaymentReader


def local_month_start_us(now_us: int, offset_s: int) -> int:
    """The instant the local calendar month holding ``now_us`` began."""
    local = datetime.fromtimestamp(now_us // MICROS_PER_SECOND, UTC) + timedelta(seconds=offset_s)
    first = datetime(local.year, local.month, 1, tzinfo=UTC) - timedelta(seconds=offset_s)
    return int(first.timestamp()) * MICROS_PER_SECOND


def _refuse(kind: str, limits: TierLimits, limit: int, left: int) -> PaymentLimitReached:
    return PaymentLimitReached(
        f"{kind} limit of tier {limits.tier}", kind=kind, limit_ngwee=limit, left_ngwee=max(left, 0), tier=limits.tier
    )


def check_amount(amount_ngwee: int, config: PaymentConfig) -> None:
    """Refuse an amount no payment may have, before anything is read."""
    if amount_ngwee <= 0:
        raise AmountNotPositive("amount must be positive")
    if amount_ngwee < config.min_amount_ngwee:
        raise BelowMinimum("amount below the smallest payment", min_ngwee=config.min_amount_ngwee)


async def check_outgoing_or_incoming(
    payments: PaymentReader,
    user: User,
    amount_ngwee: int,
    config: PaymentConfig,
    *,
    now_us: int,
    offset_s: int,
) -> MoneyMoved:
    """Refuse ``amount_ngwee`` if it takes ``user`` past a limit of their tier (what is left is said).

    Returns what ``user`` moved this month, for :func:`check_balance_cap` to reuse.
    """
    limits = config.tier(user.kyc_tier)
    if amount_ngwee > limits.per_transaction:
        raise _refuse("per_transaction", limits, limits.per_transaction, limits.per_transaction)
    month = await payments.money_moved(user.id, since_us=local_month_start_us(now_us, offset_s))
    today = await payments.money_moved(user.id, since_us=local_day_start_us(now_us, offset_s))
    if today.total + amount_ngwee > limits.per_day:
        raise _refuse("daily", limits, limits.per_day, limits.per_day - today.total)
    if month.total + amount_ngwee > limits.per_month:
        raise _refuse("monthly", limits, limits.per_month, limits.per_month - month.total)
    return month


async def check_balance_cap(
    payments: PaymentReader,
    ledger: LedgerReader,
    user: User,
    amount_ngwee: int,
    config: PaymentConfig,
    *,
    now_us: int,
    offset_s: int,
    kind: str = "balance",
    month: MoneyMoved | None = None,
) -> None:
    """Refuse money coming in that would take the wallet over its cap (deposits not yet final included).

    ``month``: what ``user`` moved this month, when the caller has read it already.
    """
    limits = config.tier(user.kyc_tier)
    accounts = await ledger.lookup_accounts([user.zmw_account_id])
    account = accounts.get(user.zmw_account_id)
    balance = account.balance if account is not None else 0
    if month is None:
        month = await payments.money_moved(user.id, since_us=local_month_start_us(now_us, offset_s))
    held = balance + month.pending_deposits
    if held + amount_ngwee > limits.balance_cap:
        raise _refuse(kind, limits, limits.balance_cap, limits.balance_cap - held)
