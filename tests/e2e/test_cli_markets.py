"""``enerlectra prices ...`` and ``market ...``, run the way an operator runs them, on a demo-seeded SQLite file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.markets.model import Side
from tests.e2e.cli import ENERLECTRA, Cli, ok
from ussd_server.bootstrap import open_platform
from ussd_server.demo import DEMO_PIN
from ussd_server.kdf_pool import KdfPool
from ussd_server.settings import Settings

CLUSTER = "lsk-kabulonga-micro"  # listed at K1.15 per kWh
MWILA, CHIPO = "+260977123456", "+260966234567"  # demo users: Mwila has energy, Chipo money
COMPONENTS = ("base", "source", "time of use", "utilisation", "open orders", "target", "smoothing", "floor, cap")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    assert ENERLECTRA.exists(), f"console script not installed at {ENERLECTRA}"
    cli = Cli(tmp_path_factory.mktemp("cli-markets") / "cli.db")
    ok(cli("db", "migrate"))
    ok(cli("demo", "seed", "--basic"))
    return cli


@pytest.fixture
def copy(seeded: Cli, tmp_path: Path) -> Cli:
    """A copy of the seeded database this test may change."""
    return seeded.copied_to(tmp_path / "copy.db")


def component(out: str, name: str) -> str:
    lines = [line.strip() for line in out.splitlines() if line.strip().startswith(name + " ")]
    assert len(lines) == 1, f"one line for {name!r} expected:\n{out}"
    return lines[0][len(name) :].strip()


def price_of(out: str) -> str:
    return component(out, "price")


def trade(cli: Cli, *orders: tuple[str, Side, int, int]) -> None:
    """Orders placed as the demo users would place them (phone, side, Wh, ngwee per kWh), in this order."""

    async def place() -> None:
        kdf = KdfPool(workers=1)
        platform = await open_platform(Settings.from_env(cli.env), hasher=kdf)
        try:
            for phone, side, wh, price in orders:
                user = await platform.users.get(phone)
                proof = await platform.users.verify_pin(user, DEMO_PIN)
                await platform.orders.place(proof, user, CLUSTER, side, wh, price, good_for_day=True)
        finally:
            await platform.close()
            kdf.close()

    asyncio.run(place())


def test_explain_prints_every_component_of_the_price_with_its_source(copy: Cli) -> None:
    out = ok(copy("prices", "explain", CLUSTER))

    assert out.splitlines()[0].startswith("Kabulonga Micro-Grid (lsk-kabulonga-micro): K")
    for name in COMPONENTS:
        assert component(out, name), f"{name} is empty:\n{out}"
    assert component(out, "base").startswith("K1.15/kWh")  # no tariff set: the cluster's listed price
    assert component(out, "source") == "platform default: the cluster's listed price"
    assert price_of(out) in out.splitlines()[0]
    assert price_of(ok(copy("prices", "explain", CLUSTER))) == price_of(out)  # one price per slot


def test_a_tariff_set_by_the_operator_is_what_explain_names(copy: Cli) -> None:
    set_ = ok(
        copy(
            "prices", "tariff-set", CLUSTER, "--base", "1.30", "--floor", "1.00", "--cap", "1.90",
            "--lifeline-kwh", "3", "--source", "Kabulonga committee resolution 7", "--source-date", "2026-01-05",
            "--periods", "midday=10:00-15:00@0.80,peak=18:00-22:00@1.25", "--from", "2025-01-01",
        )
    )  # fmt: skip

    assert "tariff set (Kabulonga committee resolution 7 (dated 2026-01-05))" in set_
    out = ok(copy("prices", "explain", CLUSTER))
    assert component(out, "source") == "Kabulonga committee resolution 7 (dated 2026-01-05)"
    assert component(out, "base") == "K1.30/kWh  (tariff in force from 2025-01-01 00:00)"
    assert component(out, "floor, cap").startswith("K1.00/kWh .. K1.90/kWh")
    listed = ok(copy("prices", "tariff", CLUSTER))
    assert "from 2025-01-01 00:00  <- in force now" in listed
    assert "periods midday=10:00-15:00@0.80, peak=18:00-22:00@1.25" in listed
    assert "lifeline 3 kWh a month" in listed


def test_a_tariff_the_rules_refuse_changes_nothing(copy: Cli) -> None:
    overlapping = copy(
        "prices", "tariff-set", CLUSTER, "--base", "1.30", "--floor", "1.00", "--cap", "1.90",
        "--lifeline-kwh", "3", "--source", "test", "--source-date", "2026-01-05",
        "--periods", "midday=10:00-15:00@0.80,lunch=12:00-13:00@0.90",
    )  # fmt: skip
    backwards = copy(
        "prices", "tariff-set", CLUSTER, "--base", "1.30", "--floor", "1.50", "--cap", "1.90",
        "--lifeline-kwh", "3", "--source", "test", "--source-date", "2026-01-05",
    )  # fmt: skip

    assert overlapping.returncode == backwards.returncode == 1
    assert "error [invalid_tariff]" in overlapping.stderr
    assert "check periods" in overlapping.stderr
    assert "error [invalid_tariff]" in backwards.stderr
    assert "check base" in backwards.stderr
    assert "no tariff set; priced by the platform default" in ok(copy("prices", "tariff", CLUSTER))


def test_show_lists_the_slots_priced_with_their_candles(copy: Cli) -> None:
    price = price_of(ok(copy("prices", "explain", CLUSTER)))

    out = ok(copy("prices", "show", CLUSTER, "--days", "1"))

    rows = [line.split() for line in out.splitlines() if line[:2] == "20"]  # date, time, price, open... volume
    assert price in [row[2] for row in rows], out
    assert all(row[2][1:].startswith(row[3][1:]) for row in rows)  # no trades: it opened at its posted price
    assert out.splitlines()[-1].startswith(f"now {rows[-1][2]}; ")
    assert "advice none (too little data)" in out


def test_the_book_and_its_trades_as_the_operator_sees_them(copy: Cli) -> None:
    assert "no open orders" in ok(copy("market", "book", CLUSTER))
    assert "no trades yet" in ok(copy("market", "trades", CLUSTER))

    trade(copy, (MWILA, Side.SELL, 1000, 120), (CHIPO, Side.BUY, 400, 125))

    book = ok(copy("market", "book", CLUSTER))
    levels = [line.split() for line in book.splitlines() if line.split()[0] in ("sell", "buy")]
    assert levels == [["sell", "K1.20/kWh", "0.6", "kWh", "(1", "order)"]], book  # the buy filled at once
    trades = ok(copy("market", "trades", CLUSTER))
    rows = [line.split() for line in trades.splitlines() if line.strip().startswith("1 ")]
    assert len(rows) == 1, trades
    assert rows[0][3:7] == ["K1.20/kWh", "0.4", "kWh", "buy"]  # at the resting sell order's price, taken by a buy
