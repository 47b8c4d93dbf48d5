"""``enerlectra payments ...``: operators oversee mobile money.

enerlectra payments show ID                     one payment, as stored
enerlectra payments review                      payments polling gave up on (oldest first)
enerlectra payments recheck ID                  ask the provider now
enerlectra payments resolve ID --as successful|failed --note TEXT
                                                decide a stuck payment after checking with the provider
enerlectra payments reconcile STATEMENT.csv --provider mtn [--since DATE] [--until DATE]
                                                a provider statement against our payments and ledger
                                                (exit 1 on any difference)
enerlectra payments limits                      the KYC tiers' limits, with their source
enerlectra user tier PHONE N                    set a user's KYC tier (1-3)
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from engine.kernel.clock import MICROS_PER_SECOND
from engine.kernel.errors import InvalidInput
from engine.kernel.phones import mask_phone
from engine.kernel.references import format_reference
from engine.kernel.units import format_money
from engine.payments.model import Payment, PaymentState, Provider
from engine.platform import Platform
from ussd_server.payments.statements import read_statement
from ussd_server.phones import parse_zambian_mobile

Command = Callable[[Platform, argparse.Namespace], Awaitable[int]]


def _when(us: int) -> str:
    return datetime.fromtimestamp(us / MICROS_PER_SECOND, UTC).strftime("%Y-%m-%d %H:%M UTC") if us else "-"


def _date_us(text: str) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (write 2026-12-01 or 2026-12-01T08:00)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * MICROS_PER_SECOND


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    payments = sub.add_parser("payments", help="mobile money").add_subparsers(dest="action", required=True)
    payments.add_parser("show", help="one payment").add_argument("payment_id")
    payments.add_parser("review", help="payments waiting for an operator")
    payments.add_parser("recheck", help="ask the provider about a payment now").add_argument("payment_id")
    resolve = payments.add_parser("resolve", help="decide a stuck payment after checking with the provider")
    resolve.add_argument("payment_id")
    resolve.add_argument("--as", dest="outcome", required=True, choices=["successful", "failed"])
    resolve.add_argument("--note", required=True, help="what the provider said, and who checked (kept on the payment)")
    reconcile = payments.add_parser("reconcile", help="compare a provider statement with our payments and ledger")
    reconcile.add_argument("statement", type=Path, help="the provider's statement (CSV)")
    reconcile.add_argument("--provider", required=True, choices=[p.value for p in (Provider.MTN, Provider.AIRTEL)])
    reconcile.add_argument("--since", type=_date_us, default=0, help="the statement's first day (UTC)")
    reconcile.add_argument("--until", type=_date_us, default=None, help="the day after its last (UTC)")
    payments.add_parser("limits", help="the KYC tiers' limits and where they come from")


def add_user_parser(user: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tier = user.add_parser("tier", help="set a user's KYC tier (sets their payment limits)")
    tier.add_argument("phone")
    tier.add_argument("tier", type=int, choices=[1, 2, 3])


def summary(payment: Payment) -> str:
    """One line: when, what, how much, through whom, where it stands, our reference."""
    state = f"{payment.state}{' (review)' if payment.review else ''}"
    return (
        f"{_when(payment.created_at)}  {payment.direction:10} {format_money(payment.amount_ngwee):>12}"
        f"  {payment.provider:7} {state:20} ref {format_reference(payment.reference)}"
    )


def describe(payment: Payment) -> str:
    lines = [
        f"payment   {payment.id}  ref {format_reference(payment.reference)}",
        f"  {payment.direction} {format_money(payment.amount_ngwee)} via {payment.provider}"
        f" for {mask_phone(payment.msisdn)}",
        f"  state     {payment.state}{'  (waiting for an operator)' if payment.review else ''}",
        f"  attempt   {payment.attempt_id or '-'}  provider ref {payment.provider_txn_id or '-'}",
        f"  created   {_when(payment.created_at)}  updated {_when(payment.updated_at)}  checks {payment.checks}",
    ]
    if payment.reason or payment.reason_detail:
        lines.append(f"  reason    {payment.reason or '-'}  {payment.reason_detail}")
    if not payment.final and not payment.review:
        lines.append(f"  next check {_when(payment.next_check_at)}")
    return "\n".join(lines)


async def show(platform: Platform, args: argparse.Namespace) -> int:
    print(describe(await platform.payments.get(args.payment_id)))
    return 0


async def review(platform: Platform, _args: argparse.Namespace) -> int:
    stuck = await platform.payments.review_queue(limit=200)
    if not stuck:
        print("no payment is waiting for an operator")
        return 0
    for payment in stuck:
        print(describe(payment))
    print(
        f"{len(stuck)} payments wait: `enerlectra payments recheck ID`,"
        " or resolve them after checking with the provider"
    )
    return 0


async def recheck(platform: Platform, args: argparse.Namespace) -> int:
    print(describe(await platform.payments.recheck(args.payment_id)))
    return 0


async def resolve(platform: Platform, args: argparse.Namespace) -> int:
    outcome = PaymentState.SUCCESSFUL if args.outcome == "successful" else PaymentState.FAILED
    print(describe(await platform.payments.resolve(args.payment_id, outcome, args.note)))
    return 0


async def reconcile(platform: Platform, args: argparse.Namespace) -> int:
    provider = Provider(args.provider)
    try:
        text = args.statement.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInput(f"cannot read {args.statement}: {exc.strerror}") from None
    lines = read_statement(provider, text)
    report = await platform.payments.reconcile(provider, lines, since_us=args.since, until_us=args.until)
    print(f"{provider}: {len(lines)} statement lines, {report.matched} matched")
    print(f"  net on the statement      {format_money(report.statement_net_ngwee)}")
    print(f"  net in our payments       {format_money(report.payments_net_ngwee)}")
    print(f"  ledger clearing (all time) {format_money(report.ledger_net_ngwee)}")
    print(f"  payments (all time)        {format_money(report.payments_total_net_ngwee)}")
    for d in report.differences:
        print(f"  DIFFERENT {d.difference}: {d.external_id}  ours={d.ours or '-'}  theirs={d.theirs or '-'}")
    if report.clean:
        print("reconciled: no differences")
        return 0
    print(f"{len(report.differences)} differences")
    return 1


async def limits(platform: Platform, _args: argparse.Namespace) -> int:
    for tier in sorted(platform.payments.config.tiers.values(), key=lambda t: t.tier):
        print(
            f"tier {tier.tier}: {format_money(tier.per_transaction)} a payment, {format_money(tier.per_day)} a day,"
            f" {format_money(tier.per_month)} a month, wallet cap {format_money(tier.balance_cap)}"
        )
        print(f"  source: {tier.source} ({tier.as_of})")
    return 0


async def set_tier(platform: Platform, args: argparse.Namespace) -> int:
    user = await platform.users.get(parse_zambian_mobile(args.phone))
    user = await platform.users.set_kyc_tier(user, args.tier)
    print(f"{mask_phone(user.phone)} is now KYC tier {user.kyc_tier}")
    return 0


COMMANDS: dict[tuple[str, str | None], Command] = {
    ("payments", "show"): show,
    ("payments", "review"): review,
    ("payments", "recheck"): recheck,
    ("payments", "resolve"): resolve,
    ("payments", "reconcile"): reconcile,
    ("payments", "limits"): limits,
    ("user", "tier"): set_tier,
}
