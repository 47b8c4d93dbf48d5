"""The installed ``enerlectra`` command, run the way an operator runs it."""

from __future__ import annotations

import re
import socket
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import PRODUCTION
from tests.e2e.cli import ENERLECTRA, Cli, ok


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    assert ENERLECTRA.exists(), f"console script not installed at {ENERLECTRA}"
    cli = Cli(tmp_path_factory.mktemp("cli") / "cli.db")
    ok(cli("db", "migrate"))
    ok(cli("demo", "seed"))
    return cli


def test_migrate_twice_succeeds_both_times(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "cli.db")
    assert "database migrated" in ok(cli("db", "migrate"))
    assert "database migrated" in ok(cli("db", "migrate"))
    assert (tmp_path / "cli.db").exists()


def test_demo_seed_reports_the_demo_pin(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "cli.db")
    ok(cli("db", "migrate"))
    out = ok(cli("demo", "seed"))
    assert "demo PIN 5173" in out
    assert "4 new users" in out


def test_demo_seed_twice_adds_nothing_the_second_time(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "cli.db")
    ok(cli("db", "migrate"))
    ok(cli("demo", "seed"))
    out = ok(cli("demo", "seed"))
    assert "0 new clusters, 0 new users" in out
    assert "ledger OK" in ok(cli("ledger", "verify"))


def test_user_show_prints_name_balance_and_history(seeded: Cli) -> None:
    out = ok(seeded("user", "show", "0977123456"))
    assert "Mwila Banda" in out
    assert "+260977123456" in out
    assert re.search(r"balance K\d+\.\d\d", out), out
    history = [line for line in out.splitlines() if re.match(r"\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+[2-9A-Z]{5}-", line)]
    assert len(history) >= 3, f"expected transaction history lines in:\n{out}"
    assert any("starting_credit" in line and "K5.00" in line for line in history), out


def test_user_show_accepts_the_international_form_too(seeded: Cli) -> None:
    assert "Mwila Banda" in ok(seeded("user", "show", "+260977123456"))


def test_user_show_for_an_unknown_number_exits_1_with_a_clean_error(seeded: Cli) -> None:
    result = seeded("user", "show", "0977000000")
    assert result.returncode == 1
    assert "user_not_found" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_user_list_lists_the_four_demo_users_and_the_demo_coops_members(seeded: Cli) -> None:
    out = ok(seeded("user", "list", "--limit", "500"))
    rows = [line for line in out.splitlines() if re.match(r"\s*\d+\s+\+260\d{9}\s", line)]
    for name in ("Mwila Banda", "Chipo Phiri", "Natasha Mulenga", "Joseph Tembo"):
        assert name in out
    assert len(rows) > 4, "the demo co-ops have members of their own"
    assert f"{len(rows)} users" in out


def test_stats_lists_clusters_in_every_demo_region(seeded: Cli) -> None:
    out = ok(seeded("stats"))
    cluster_lines = [line for line in out.splitlines() if line.startswith("cluster ")]
    regions = {line.split()[2] for line in cluster_lines}
    assert {"Lusaka", "Kabwe", "Copperbelt", "Rural"} <= regions, out
    users = re.search(r"^users: (\d+)$", out, re.M)
    assert users is not None, out
    assert int(users.group(1)) > 4, out  # the demo users and the demo co-ops' members


def test_ledger_verify_passes_on_an_untouched_database(seeded: Cli) -> None:
    out = ok(seeded("ledger", "verify"))
    assert "ledger OK" in out


def test_ledger_verify_catches_a_tampered_transfer(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "cli.db")
    ok(cli("db", "migrate"))
    ok(cli("demo", "seed"))
    assert "ledger OK" in ok(cli("ledger", "verify"))

    conn = sqlite3.connect(cli.db)
    try:
        conn.execute("DROP TRIGGER transfers_no_update")
        changed = conn.execute("UPDATE transfers SET amount = amount + 1 WHERE seq = 3").rowcount
        conn.commit()
    finally:
        conn.close()
    assert changed == 1

    result = cli("ledger", "verify")
    assert result.returncode == 1, f"tampering went unnoticed:\n{result.stdout}{result.stderr}"
    assert "seq=3" in result.stdout
    assert "ledger OK" not in result.stdout
    assert "Traceback" not in result.stderr


def test_the_ledger_refuses_to_update_a_transfer_while_its_trigger_is_in_place(seeded: Cli) -> None:
    conn = sqlite3.connect(seeded.db)
    try:
        with pytest.raises(sqlite3.DatabaseError):
            conn.execute("UPDATE transfers SET amount = amount + 1 WHERE seq = 3")
    finally:
        conn.rollback()
        conn.close()


def test_an_invalid_setting_exits_2_naming_the_variable(seeded: Cli) -> None:
    result = seeded("stats", PORT="abc")
    assert result.returncode == 2
    assert "PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_seed_is_refused_in_production(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "cli.db")
    ok(cli("db", "migrate", **PRODUCTION))
    result = cli("demo", "seed", **PRODUCTION)
    assert result.returncode != 0
    assert "only in dev mode" in result.stderr
    assert "Traceback" not in result.stderr
    assert "users: 0" in ok(cli("stats", **PRODUCTION)), "nothing was seeded"


def test_dev_mode_on_a_public_address_is_refused_saying_what_to_set(tmp_path: Path) -> None:
    result = Cli(tmp_path / "cli.db")("serve", HOST="0.0.0.0")
    assert result.returncode == 2
    assert "HOST=127.0.0.1" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_without_an_allow_list_warns_once_at_start(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "cli.db")
    ok(cli("db", "migrate", **PRODUCTION))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [str(ENERLECTRA), "serve"],
        env={**cli.env, **PRODUCTION, "PORT": str(port)},
        cwd=cli.db.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, "the server exited"
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.1)
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    warnings = [line for line in stderr.splitlines() if "WARNING" in line and "GATEWAY_ALLOWED_IPS" in line]
    assert len(warnings) == 1, stderr
    assert "any address" in warnings[0]


def test_output_cut_short_by_the_reader_ends_quietly(seeded: Cli) -> None:
    """``enerlectra user show ... | head -1``: no traceback when head stops reading."""
    reader = subprocess.Popen(  # head reads one line, then closes the pipe
        ["head", "-c", "1"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    result = subprocess.run(
        [str(ENERLECTRA), "user", "show", "0977123456", "--history", "500"],
        env=seeded.env,
        cwd=seeded.db.parent,
        stdout=reader.stdin,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        check=False,
    )
    assert reader.stdin is not None
    reader.stdin.close()
    reader.wait(timeout=10)
    assert "Traceback" not in result.stderr, result.stderr
    assert "BrokenPipe" not in result.stderr, result.stderr


def test_reset_pin_queues_a_one_time_pin_without_showing_it(seeded: Cli) -> None:
    out = ok(seeded("user", "reset-pin", "0966234567"))
    assert "one-time PIN queued by SMS" in out
    assert "+26096*****67" in out
    db = sqlite3.connect(seeded.db)
    try:
        [(params,)] = db.execute(
            "SELECT params FROM outbox WHERE recipient = '+260966234567' AND template = 'sms.pin_reset'"
        ).fetchall()
    finally:
        db.close()
    one_time = re.search(r'"pin": ?"(\d{4})"', params)
    assert one_time is not None
    assert one_time.group(1) not in out, "the operator never sees the one-time PIN"
    shown = ok(seeded("user", "show", "0966234567"))
    assert "one-time PIN from a reset: must be changed on the next dial" in shown
    assert "sending and paying held until" in shown
