"""``enerlectra payments ...`` and ``user tier``, run the way an operator runs them, on a database of their own."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from engine.kernel.clock import SystemClock
from engine.payments.model import Direction, Payment, PaymentState, Provider
from storage import open_store
from tests.e2e.cli import ENERLECTRA, Cli, ok

MWILA = "+260977123456"  # demo user (Airtel)


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    assert ENERLECTRA.exists(), f"console script not installed at {ENERLECTRA}"
    cli = Cli(tmp_path_factory.mktemp("cli-payments") / "cli.db")
    ok(cli("db", "migrate"))
    ok(cli("demo", "seed"))
    return cli


def stuck_deposit(cli: Cli, payment_id: str, ngwee: int) -> None:
    """A deposit the provider never settled, waiting for an operator (as 24 h of polling leaves it)."""

    async def insert() -> None:
        store = await open_store(f"sqlite:///{cli.db}", clock=SystemClock())
        try:
            user = await store.users.user_by_phone(MWILA)
            assert user is not None
            now = SystemClock().now_us()
            payment = Payment(
                payment_id, "K7M3Q9XP2A", Direction.DEPOSIT, Provider.AIRTEL, user.id, MWILA, ngwee,
                PaymentState.PENDING, attempt_id=str(uuid.uuid4()), created_at=now, updated_at=now, review=True,
            )  # fmt: skip
            assert await store.atomic(lambda r: r.payments.insert_payment(payment))
        finally:
            await store.close()

    asyncio.run(insert())


def test_limits_are_shown_with_their_source(cli: Cli) -> None:
    out = ok(cli("payments", "limits"))
    assert "tier 1: K10,000.00 a payment, K20,000.00 a day" in out
    assert "wallet cap K100,000.00" in out
    assert out.count("source: ") == 3
    assert "to be confirmed by the operator" in out


def test_an_operator_sets_a_tier_and_sees_it(cli: Cli) -> None:
    assert "is now KYC tier 2" in ok(cli("user", "tier", "0977123456", "2"))
    assert "KYC tier 2" in ok(cli("user", "show", "0977123456"))
    refused = cli("user", "tier", "0977123456", "4")
    assert refused.returncode == 2  # argparse: 1-3 only
    assert "Traceback" not in refused.stderr


def test_a_stuck_payment_is_reviewed_and_resolved_once(cli: Cli) -> None:
    stuck_deposit(cli, "dep-stuck-1", 12_345)
    review = ok(cli("payments", "review"))
    assert "dep-stuck-1" in review
    assert "K123.45 via airtel" in review
    assert "waiting for an operator" in review
    shown = ok(cli("user", "show", "0977123456"))  # the user's payments, for the operator
    assert "ref K7M3Q-9XP2A" in shown
    assert "pending (review)" in shown
    before = ok(cli("user", "show", "0977123456")).split("balance ")[1].split()[0]
    resolved = ok(cli("payments", "resolve", "dep-stuck-1", "--as", "failed", "--note", "Airtel portal: TF"))
    assert "state     failed" in resolved
    assert "operator: Airtel portal: TF" in resolved
    assert ok(cli("user", "show", "0977123456")).split("balance ")[1].split()[0] == before  # nothing moved
    again = cli("payments", "resolve", "dep-stuck-1", "--as", "successful", "--note", "again")
    assert again.returncode == 1
    assert "payment_final" in again.stderr
    assert "no payment is waiting" in ok(cli("payments", "review"))


def test_reconcile_names_every_difference_and_exits_1(cli: Cli, tmp_path: Path) -> None:
    header = "Transaction ID,Airtel Money ID,Reference,Transaction Date,Transaction Status,Service Type,MSISDN,Amount,"
    header += "Currency,Fee,Balance,Reason\n"
    unknown = "t-1,AM1,dep-nobody-knows,2026-12-01 10:00:00,TS,Merchant Payment,977123456,50.00,ZMW,0.00,50.00,\n"
    (tmp_path / "airtel.csv").write_text(header + unknown)
    result = cli("payments", "reconcile", str(tmp_path / "airtel.csv"), "--provider", "airtel")
    assert result.returncode == 1, result.stdout
    assert "DIFFERENT only_at_provider: dep-nobody-knows" in result.stdout
    (tmp_path / "empty.csv").write_text(header)
    clean = ok(cli("payments", "reconcile", str(tmp_path / "empty.csv"), "--provider", "mtn"))
    assert "0 statement lines" in clean
    (tmp_path / "broken.csv").write_text(header + unknown.replace("50.00", "fifty", 1))
    broken = cli("payments", "reconcile", str(tmp_path / "broken.csv"), "--provider", "airtel")
    assert broken.returncode == 1
    assert "line 2" in broken.stderr
    assert "Traceback" not in broken.stderr
