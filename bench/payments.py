"""Payments benchmark: deposits settled per second through the provider simulator, and callback latency.

``python -m bench.payments [--deposits N] [--rounds R] [--backend sqlite|postgres|all]`` (part of ``make bench``).

For each backend, in one run (everything on 127.0.0.1, stopped at the end):

* **Deposits settled per second**: ``enerlectra serve`` with both providers at
  the provider simulator (its own process, approving every collection at
  once). ``DEPOSIT_CLIENTS`` API clients start ``--deposits`` deposits
  (``POST /api/v1/users/{phone}/deposits``, an Idempotency-Key each); the
  clock stops when the last is SUCCESSFUL in the database. Each one is an API
  request, a submit over HTTP, a callback, a status read over HTTP and the
  settlement: five database transactions and four HTTP exchanges.
* **The baseline**: the ledger's single-transfer rate (``bench.ledger``'s
  "ours, single": one ``create_transfers([t])`` per transaction, sequential) on
  a database of the same backend, measured in the same rounds, alternating
  with the deposits (ABBA). The ratio is the median of per-round ratios
  (goal: at least 0.5).
* **Callback latency**: ``PENDING_FOR_CALLBACKS`` deposits the simulator holds
  pending, then ``CALLBACKS`` MTN callbacks naming them, ``CALLBACK_CONCURRENCY``
  (200) in flight at once; p50/p99 of the server's answer (it must stay far
  inside the providers' ~2 s). Each callback is a database write, and starts a
  status read in the background.

Results: a table, and ``bench/results/payments-latest.json`` (flat keys).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from bench.ledger import OursTarget, Workload, open_ledger, run_phase
from bench.procs import BenchError, postgres_database, running
from engine.kernel.clock import SystemClock
from storage import open_store
from tests.support.payments_stack import momo_process, payments_env, prepare_users
from tests.support.ports import free_port
from tests.support.servers import enerlectra_server, run_cli
from ussd_server.settings.payments import DEV_CALLBACK_SECRET

RESULTS = Path(__file__).parent / "results" / "payments-latest.json"
USERS = 200
DEPOSIT_CLIENTS = 64
CALLBACKS = 4000
CALLBACK_CONCURRENCY = 200
PENDING_FOR_CALLBACKS = 1000
LEDGER_SECONDS = 5.0


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def start_deposits(url: str, key: str, phones: list[str], count: int, clients: int) -> None:
    """``count`` deposits through the API, ``clients`` at a time; any refusal stops the benchmark."""
    rng = random.Random(count)
    jobs = [(rng.choice(phones), rng.randint(10, 200) * 100) for _ in range(count)]

    async def client(http: aiohttp.ClientSession) -> None:
        while jobs:
            phone, ngwee = jobs.pop()
            headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": secrets.token_hex(12)}
            async with http.post(
                f"{url}/api/v1/users/{phone}/deposits", json={"amount_ngwee": ngwee}, headers=headers
            ) as reply:
                if reply.status != 202:
                    raise BenchError(f"a deposit was refused ({reply.status}): {await reply.text()}")

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))


async def successful(database_url: str) -> int:
    store = await open_store(database_url, clock=SystemClock())
    try:
        return (await store.payments.count_payments()).get("successful", 0)
    finally:
        await store.close()


async def deposits_phase(server_url: str, database_url: str, key: str, phones: list[str], count: int) -> float:
    """Deposits settled per second: from the first request to the last settlement."""
    before = await successful(database_url)
    began = time.perf_counter()
    await start_deposits(server_url, key, phones, count, DEPOSIT_CLIENTS)
    while await successful(database_url) < before + count:
        if time.perf_counter() - began > 600:
            raise BenchError("deposits did not settle within 10 minutes")
        await asyncio.sleep(0.02)
    return count / (time.perf_counter() - began)


async def ledger_phase(target: OursTarget) -> float:
    return (await run_phase(target, 1, LEDGER_SECONDS)).rate


async def callbacks_phase(server_url: str, sim_url: str, key: str, phones: list[str]) -> tuple[float, float]:
    """p50 and p99 (ms) of the server's answer to MTN callbacks, CALLBACK_CONCURRENCY at once."""
    async with aiohttp.ClientSession() as http:
        # Held pending by the simulator: every callback then finds a payment to make due.
        async with http.post(sim_url + "/_sim/rules", json={"kind": "collection", "delay_ms": 3_600_000}) as r:
            r.raise_for_status()
        mtn = [p for p in phones if p.startswith("+26096")]
        ids: list[str] = []
        for phone in mtn[:PENDING_FOR_CALLBACKS]:
            headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": secrets.token_hex(12)}
            async with http.post(
                f"{server_url}/api/v1/users/{phone}/deposits", json={"amount_ngwee": 1000}, headers=headers
            ) as reply:
                ids.append(str((await reply.json())["data"]["id"]))
        while len(ids) < PENDING_FOR_CALLBACKS:
            ids += ids
        latencies: list[float] = []
        queue = [ids[i % len(ids)] for i in range(CALLBACKS)]
        target = f"{server_url}/callbacks/momo/mtn/{DEV_CALLBACK_SECRET}"

        async def caller() -> None:
            while queue:
                payment_id = queue.pop()
                body = {"externalId": payment_id, "status": "SUCCESSFUL", "amount": "10", "currency": "ZMW"}
                start = time.perf_counter()
                async with http.put(target, json=body) as reply:
                    await reply.read()
                    if reply.status != 200:
                        raise BenchError(f"a callback was answered {reply.status}")
                latencies.append(time.perf_counter() - start)

        await asyncio.gather(*(caller() for _ in range(CALLBACK_CONCURRENCY)))
        async with http.delete(sim_url + "/_sim/rules") as r:
            r.raise_for_status()
    return percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000


@contextlib.asynccontextmanager
async def databases(backend: str, work: Path) -> AsyncIterator[tuple[str, str]]:
    """The server's database and the ledger baseline's, on ``backend``."""
    if backend == "sqlite":
        yield f"sqlite:///{work}/payments.db", f"sqlite:///{work}/ledger.db"
        return
    async with postgres_database("payments") as server_db, postgres_database("ledger") as ledger_db:
        yield server_db, ledger_db


async def bench_backend(backend: str, opts: argparse.Namespace, work: Path) -> dict[str, float]:
    results: dict[str, float] = {}
    async with databases(backend, work) as (database_url, ledger_url):
        port = free_port()
        async with momo_process(work, port, ("--approve-after-ms", "0")) as sim_url:
            env = payments_env(database_url, port, sim_url, {"LOG_LEVEL": "WARNING"})
            code, output = await run_cli(env, "db", "migrate")
            if code != 0:
                raise BenchError(output)
            phones, key = await prepare_users(env, USERS)
            ledger_store = await open_ledger(ledger_url)
            ledger = OursTarget(ledger_store, Workload(seed=1))
            async with running(enerlectra_server(env, port, work / f"server-{backend}.log")) as server:
                progress(f"[{backend}] warm-up")
                await deposits_phase(server.url, database_url, key, phones, opts.deposits // 4)
                await ledger_phase(ledger)
                deposit_rates, ledger_rates, ratios = [], [], []
                for r in range(opts.rounds):
                    order = ("ledger", "deposits") if r % 2 == 0 else ("deposits", "ledger")
                    rates: dict[str, float] = {}
                    for side in order:
                        if side == "ledger":
                            rates[side] = await ledger_phase(ledger)
                        else:
                            rates[side] = await deposits_phase(server.url, database_url, key, phones, opts.deposits)
                    progress(
                        f"[{backend}] round {r + 1}: deposits {rates['deposits']:.0f}/s, "
                        f"ledger single {rates['ledger']:.0f}/s"
                    )
                    deposit_rates.append(rates["deposits"])
                    ledger_rates.append(rates["ledger"])
                    ratios.append(rates["deposits"] / rates["ledger"])
                p50, p99 = await callbacks_phase(server.url, sim_url, key, phones)
                progress(f"[{backend}] callbacks: p50 {p50:.1f} ms, p99 {p99:.1f} ms at {CALLBACK_CONCURRENCY} at once")
            await ledger_store.close()
            verify = await run_cli(env, "ledger", "verify")
            if verify[0] != 0:
                raise BenchError(f"ledger verify failed after the benchmark:\n{verify[1]}")
    results[f"payments.{backend}.deposits_per_s"] = statistics.median(deposit_rates)
    results[f"payments.{backend}.ledger_single_per_s"] = statistics.median(ledger_rates)
    results[f"payments.{backend}.ratio"] = statistics.median(ratios)
    results[f"payments.{backend}.callback_p50_ms"] = p50
    results[f"payments.{backend}.callback_p99_ms"] = p99
    return results


async def main_async(opts: argparse.Namespace) -> int:
    backends = ("sqlite", "postgres") if opts.backend == "all" else (opts.backend,)
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="enerlectra-bench-payments-") as directory:
        for backend in backends:
            results |= await bench_backend(backend, opts, Path(directory))
    print(f"\n{'payments':<44}{'value':>12}  goal")
    for backend in backends:
        ratio = results[f"payments.{backend}.ratio"]
        rows = [
            ("deposits settled/s", f"{results[f'payments.{backend}.deposits_per_s']:.0f}", ""),
            ("ledger single transfers/s (same run)", f"{results[f'payments.{backend}.ledger_single_per_s']:.0f}", ""),
            ("ratio deposits / ledger", f"{ratio:.3f}", ">= 0.5 " + ("met" if ratio >= 0.5 else "MISSED")),
            ("callback p50 ms (200 at once)", f"{results[f'payments.{backend}.callback_p50_ms']:.1f}", ""),
            ("callback p99 ms (200 at once)", f"{results[f'payments.{backend}.callback_p99_ms']:.1f}", "well < 2000"),
        ]
        for name, value, goal in rows:
            print(f"{backend + ' ' + name:<44}{value:>12}  {goal}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({k: round(v, 3) for k, v in results.items()}, indent=1, sort_keys=True) + "\n")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.payments", description=__doc__.split("\n")[0])
    parser.add_argument("--deposits", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    opts = parser.parse_args()
    try:
        return asyncio.run(main_async(opts))
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
