"""SIGKILL a process in the middle of applying transfers: nothing acknowledged is lost.

After each kill the database is reopened: every acknowledged transfer is there
exactly once, the invariants hold, and ``enerlectra ledger verify`` passes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from engine.ledger.model import AccountFlags
from engine.ledger.verify import verify_ledger
from tests.conftest import StoreOpener

# SQLite and PostgreSQL only: the in-memory database dies with its process, so there is nothing to recover.
ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 3
ACKS_PER_ROUND = 120


def run_until_killed(url: str, prefix: str) -> list[str]:
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.crash_worker", url, prefix],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    acked: list[str] = []
    deadline = time.monotonic() + 60
    assert worker.stdout is not None
    try:
        while len(acked) < ACKS_PER_ROUND and time.monotonic() < deadline:
            line = worker.stdout.readline()
            if not line:
                break
            acked.append(line.split()[1])
    finally:
        # No warning, no cleanup: the process dies wherever it is, mid-commit or not.
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    # Lines written before the kill but not yet read were acknowledged too.
    acked += [line.split()[1] for line in worker.stdout.read().splitlines() if line.startswith("ack ")]
    worker.stdout.close()
    assert worker.returncode == -signal.SIGKILL
    assert len(acked) >= 10, "the worker never got going"
    return acked


async def test_acknowledged_transfers_survive_sigkill(database_url: str, open_test_store: StoreOpener) -> None:
    acknowledged: list[str] = []
    for round_ in range(ROUNDS):
        acknowledged += await asyncio.to_thread(run_until_killed, database_url, f"r{round_}")
        store = await open_test_store()
        found = await store.ledger.lookup_transfers(acknowledged)
        assert set(found) == set(acknowledged), "an acknowledged transfer was lost"
        entries = await store.ledger.chain_entries(after_seq=0, limit=1_000_000)
        ids = [e.id for e in entries]
        assert len(ids) == len(set(ids)), "a transfer was stored twice"
        report = await verify_ledger(store.ledger)
        assert report.ok, report.problems
        for account in await store.ledger.list_accounts():
            if account.flags & AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS:
                assert account.balance >= 0
        await store.close()

    cli = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "enerlectra"),
        "ledger",
        "verify",
        env={**os.environ, "DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(cli.communicate(), timeout=120)
    assert cli.returncode == 0, output.decode()
    assert "ledger OK" in output.decode()
