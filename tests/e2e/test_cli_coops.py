"""``enerlectra coop ...`` and ``scheduler ...``, run the way an operator runs them, on a demo-seeded SQLite file."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from engine.kernel.clock import SystemClock
from storage import open_store
from tests.e2e.cli import ENERLECTRA, Cli, ok

LUSAKA = "lsk-kalingalinga-solar"
SUPPLIER = "cb-solar-suppliers"
REGIONS = ("lusaka", "kabwe", "copperbelt", "rural")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    assert ENERLECTRA.exists(), f"console script not installed at {ENERLECTRA}"
    cli = Cli(tmp_path_factory.mktemp("cli-coops") / "cli.db")
    ok(cli("db", "migrate"))
    out = ok(cli("demo", "seed"))
    assert "demo co-ops: 5 new" in out, out
    return cli


@pytest.fixture
def copy(seeded: Cli, tmp_path: Path) -> Cli:
    """A copy of the seeded database this test may break."""
    return seeded.copied_to(tmp_path / "copy.db")


def rows(out: str, prefix: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(prefix)]


def test_the_demo_has_a_living_coop_in_every_region(seeded: Cli) -> None:
    out = ok(seeded("coop", "list"))
    listed = [line.split() for line in out.splitlines()[1:-1]]
    assert {row[-5] for row in listed} >= set(REGIONS), out  # the region column
    assert all(row[-4] == "active" for row in listed), out
    assert {"micro", "neighbourhood", "industrial", "supply"} <= {row[-6] for row in listed}, out
    kabwe = ok(seeded("coop", "list", "--region", "kabwe"))
    assert "Makululu Neighbourhood Energy" in kabwe
    assert "Kalingalinga" not in kabwe


def test_a_coop_shows_its_bylaws_members_and_open_proposals(seeded: Cli) -> None:
    out = ok(seeded("coop", "show", LUSAKA))
    assert "Kalingalinga Solar Co-op" in out
    assert "contribution K2,000.00 to K5,000.00" in out
    assert "one member one vote; quorum 50%" in out
    assert "voting opens 1 h after a proposal, lasts 3 days" in out
    members = out.split("members (most shares first")[1].split("open proposals")[0]
    chipo = next(line for line in members.splitlines() if "Chipo Phiri" in line)
    assert " chair " in chipo, "elected by the members"
    assert "Mwila Banda" in members, "a demo user is a member"
    assert "Sarah Ngoma" not in members, "the member who left was refunded and is off the register"
    proposals = out.split("open proposals")[1]
    assert "pending" in proposals, "one proposal waits for its voting to open"
    assert "buy 2 x 200 Ah 12 V gel battery from cb-solar-suppliers for K9,600.00" in proposals
    assert "6/10 voted" in proposals


def test_the_demo_users_belong_to_coops_and_one_to_two(seeded: Cli) -> None:
    shown = {
        coop: ok(seeded("coop", "show", coop)) for coop in (LUSAKA, "kbw-makululu-energy", "rural-chongwe-community")
    }
    assert "Mwila Banda" in shown[LUSAKA]
    assert "Mwila Banda" in shown["rural-chongwe-community"]
    assert "Chipo Phiri" in shown[LUSAKA]
    assert "Natasha Mulenga" in shown["kbw-makululu-energy"]


def test_a_suppliers_catalog_is_kept_by_the_operator(copy: Cli) -> None:
    catalog = ok(copy("coop", "show", SUPPLIER)).split("catalog (")[1]
    assert "450 W mono solar panel" in catalog
    assert "K2,350.00" in catalog
    assert "K29,800.00" in ok(copy("coop", "show", SUPPLIER)), "paid for the panels Kalingalinga bought"

    assert "at K3,150.00" in ok(copy("coop", "catalog", SUPPLIER, "panel-550w", "550 W mono panel", "3150", "2450"))
    assert "at K2,290.00" in ok(copy("coop", "catalog", SUPPLIER, "panel-450w", "450 W mono solar panel", "2290.00"))
    catalog = ok(copy("coop", "show", SUPPLIER)).split("catalog (")[1]
    assert "550 W mono panel" in catalog
    assert "K3,150.00" in catalog
    assert "K2,290.00" in catalog
    assert "K2,350.00" not in catalog

    refused = copy("coop", "catalog", LUSAKA, "panel", "A panel", "100")
    assert refused.returncode == 1
    assert "invalid_cluster" in refused.stderr
    assert "Traceback" not in refused.stderr
    unknown = copy("coop", "show", "no-such-coop")
    assert unknown.returncode == 1
    assert "coop_not_found" in unknown.stderr


def test_seeding_again_adds_nothing(copy: Cli) -> None:
    before = ok(copy("coop", "list"))
    out = ok(copy("demo", "seed"))
    assert "0 new clusters, 0 new users" in out
    assert "demo co-ops: 0 new" in out
    assert "0 new members" in out
    assert ok(copy("coop", "list")) == before
    assert "ledger OK" in ok(copy("ledger", "verify"))


def test_verify_passes_on_the_demo(seeded: Cli) -> None:
    out = ok(seeded("coop", "verify"))
    assert len(rows(out, "coop ")) == 5
    assert all(" OK: " in line for line in rows(out, "coop ")), out
    assert out.splitlines()[-1].startswith("co-ops OK: 5 co-ops")
    assert "tallies recounted" in ok(seeded("coop", "verify", LUSAKA))


def tamper(db: Path, *statements: str) -> int:
    conn = sqlite3.connect(db)
    try:
        changed = sum(max(conn.execute(statement).rowcount, 0) for statement in statements)
        conn.commit()
    finally:
        conn.close()
    return changed


def test_verify_catches_an_edited_vote_in_the_governance_log(copy: Cli) -> None:
    conn = sqlite3.connect(copy.db)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):  # the log refuses edits while guarded
            conn.execute("UPDATE coop_audit SET body = body WHERE coop_id = ?", (LUSAKA,))
        seq = conn.execute(
            "SELECT min(seq) FROM coop_audit WHERE coop_id = ? AND kind = 'voted' AND body LIKE '%\"choice\":2%'",
            (LUSAKA,),
        ).fetchone()[0]
    finally:
        conn.close()
    assert seq is not None
    changed = tamper(
        copy.db,
        "DROP TRIGGER coop_audit_no_update",
        f"UPDATE coop_audit SET body = replace(body, '\"choice\":2', '\"choice\":1') WHERE coop_id = '{LUSAKA}'"
        f" AND seq = {seq}",
    )
    assert changed == 1

    result = copy("coop", "verify")
    assert result.returncode == 1, f"tampering went unnoticed:\n{result.stdout}{result.stderr}"
    assert f"coop {LUSAKA} BROKEN" in result.stdout
    assert f"governance log broken at entry seq={seq}: its contents were changed" in result.stdout
    assert "recounted from votes" in result.stdout, "the tally recounted from the log no longer agrees either"
    assert "co-ops BROKEN: 1 of 5" in result.stdout
    assert "Traceback" not in result.stderr


def test_verify_catches_a_vote_changed_behind_the_log(copy: Cli) -> None:
    one_no = "(SELECT min(rowid) FROM votes WHERE choice = 2)"
    assert tamper(copy.db, f"UPDATE votes SET choice = 1 WHERE rowid = {one_no}") == 1
    result = copy("coop", "verify")
    assert result.returncode == 1
    broken = [line for line in result.stdout.splitlines() if "recounted from votes" in line]
    assert len(broken) == 1, result.stdout
    assert "governance log broken" not in result.stdout  # the log itself is intact: it is the evidence


def dead_job(cli: Cli, key: str) -> None:
    """A proposal job whose proposal is gone: its handler fails every time (as corrupt data would)."""

    async def schedule() -> None:
        store = await open_store(f"sqlite:///{cli.db}", clock=SystemClock())
        try:
            now = SystemClock().now_us()
            await store.atomic(lambda r: r.jobs.schedule_job("coop.proposal", key, due_at_us=now, payload={}))
        finally:
            await store.close()

    asyncio.run(schedule())


def test_a_dead_job_is_shown_with_its_error_and_retried_by_the_operator(copy: Cli) -> None:
    status = ok(copy("scheduler", "status"))
    assert "0 dead" in status
    assert "lag: nothing overdue" in status
    dead_job(copy, "pr-gone00000000")
    ran = ok(copy("scheduler", "run", "--once", SCHEDULER_MAX_ATTEMPTS="1"))
    assert "1 jobs run: 0 finished, 0 failed (retried later), 1 dead" in ran

    status = ok(copy("scheduler", "status"))
    assert "1 dead" in status
    assert "coop.proposal pr-gone00000000: 1 failed attempts" in status
    assert "ProposalNotFound: no such proposal" in status

    retried = ok(copy("scheduler", "retry", "coop.proposal", "pr-gone00000000"))
    assert "due again now" in retried
    status = ok(copy("scheduler", "status"))
    assert "0 dead" in status
    assert "pr-gone00000000" not in status
    again = copy("scheduler", "retry", "coop.proposal", "pr-gone00000000")
    assert again.returncode == 1
    assert "no dead job" in again.stdout
    unknown = copy("scheduler", "retry", "trade.scheduled", "x")
    assert unknown.returncode == 1
    assert "no such kind of job" in unknown.stdout


def test_on_sqlite_one_scheduler_process_runs_at_a_time(copy: Cli) -> None:
    worker = subprocess.Popen(
        [str(ENERLECTRA), "scheduler", "run"],
        env={**copy.env, "SCHEDULER_INTERVAL_S": "0.2"},
        cwd=copy.db.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None
        assert "running due jobs on sqlite" in worker.stdout.readline()  # printed once it holds the lock
        refused = copy("scheduler", "run", "--once")
        assert refused.returncode == 1
        assert "one worker at a time: nothing was run here" in refused.stdout
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert "stopped: " in out
    assert "Traceback" not in err
    assert "0 jobs run" in ok(copy("scheduler", "run", "--once")), "the lock is free once the worker stopped"
