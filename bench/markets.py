"""Markets benchmark: placing an order next to a deep book, quotes per second, and the pure matching engine.

``python -m bench.markets [--resting N] [--places N] [--backend sqlite|postgres|all]`` (part of ``make bench``).

For each backend, on a throwaway database (migrated, the basic demo seeded):

* **Two books.** One cluster holds 100 resting orders, another ``--resting``
  (100,000). They are written through the store's own repositories and
  ledger, in batches, as placing them leaves them (the order rows, each one's
  reservation as a pending transfer, the market's sequences): the books are
  the subject here, not 100,000 PIN checks.
* **Placing an order** through the service, alternating between the two
  clusters in rounds so both see the same machine: most orders rest (a bid
  under the best ask), every fifth crosses and fills against the best ask
  at the cap so it always finds one (posting reservations, paying, re-reserving). p50/p99 per book and the ratio
  of the deep book's p99 to the shallow one's (goal <= 1.2). The PIN proof is
  taken before the clock starts: the KDF is :mod:`bench.hops`'s subject.
* **Quotes per second**, 16 at once.

The pure matching engine against a minimal price-time book is
:mod:`bench.markets_engine` (its own command, also in ``make bench``).

Results: a table, and ``bench/results/markets-latest.json`` (flat keys).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from bench import population, procs
from bench.procs import BenchError, postgres_database
from engine.identity.model import User
from engine.identity.pins import hash_pin
from engine.kernel.clock import SystemClock
from engine.kernel.config import EngineConfig
from engine.kernel.references import reference_for
from engine.ledger.model import CreateTransferResult
from engine.markets.matching import buy_reservation
from engine.markets.model import MarketState, Order, OrderState, Side
from engine.markets.settlement import escrow_accounts, reservation
from engine.platform import Platform
from engine.uow import Repositories
from storage import open_store
from ussd_server.kdf_pool import KdfPool

RESULTS = Path(__file__).parent / "results" / "markets-latest.json"
PEPPER = "enerlectra-bench-pepper-not-a-secret"
CHEAP_LOG2_N = 10
SHALLOW, DEEP = "bench-shallow", "bench-deep"
SHALLOW_ORDERS = 100
BATCH = 1000
OWNERS = 1000  # users owning the seeded books
QUOTERS = 16


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Bench:
    platform: Platform
    owners: list[User]
    traders: list[User]


async def build(url: str, traders: int) -> Bench:
    await procs.cli(url, PEPPER, "db", "migrate")
    await procs.cli(url, PEPPER, "demo", "seed", "--basic")
    made = await population.populate(
        url,
        users=OWNERS + traders,
        funded=OWNERS + traders,
        pin_hash=hash_pin(population.BENCH_PIN, pepper=PEPPER.encode(), log2_n=CHEAP_LOG2_N),
    )
    progress(f"  {OWNERS + traders:,} users in {made.seconds:.1f} s")
    clock = SystemClock()
    config = EngineConfig(pin_pepper=PEPPER.encode(), pin_kdf_log2_n=CHEAP_LOG2_N, sms_daily_cap=1_000_000)
    platform = Platform(await open_store(url, clock=clock), config, KdfPool(workers=2), clock)
    await platform.bootstrap()
    for cluster_id in (SHALLOW, DEEP):
        await platform.clusters.create(
            cluster_id=cluster_id, name=cluster_id.title(), kind="neighbourhood", region="Bench",
            capacity_wh=10_000_000, price_ngwee_per_kwh=120,
        )  # fmt: skip
    ids = list(range(made.first_id, made.first_id + OWNERS + traders))
    users = await platform.store.users.users_by_ids(ids)
    ordered = [users[i] for i in ids]
    return Bench(platform, ordered[:OWNERS], ordered[OWNERS:])


async def seed_book(bench: Bench, cluster_id: str, count: int) -> float:
    """``count`` resting orders, half asks from K1.25 up and half bids from K1.15 down, reservations and all."""
    started = time.perf_counter()
    platform = bench.platform
    store = platform.store
    await store.ledger.create_accounts(escrow_accounts(cluster_id))
    orders = platform.orders
    now = SystemClock().now_us()
    slot = orders.next_open_slot(now)
    end = slot + 24 * 3600 * 1_000_000  # good for a day: they outlive the run
    for start in range(0, count, BATCH):
        chunk: list[tuple[Order, User]] = []
        for seq in range(start + 1, min(start + BATCH, count) + 1):
            owner = bench.owners[seq % len(bench.owners)]
            side = Side.SELL if seq % 2 else Side.BUY
            price = 125 + seq % 50 if side is Side.SELL else 115 - seq % 25
            wh = 100 * (1 + seq % 20)
            operation = f"bench-order:{cluster_id}:{seq}"
            order = Order(
                id=operation, reference=reference_for(operation), cluster_id=cluster_id, user_id=owner.id,
                side=side, price=price, wh=wh, remaining_wh=wh, slot_start_us=slot, good_for_day=True,
                trade_until_us=end, expires_at_us=end, seq=seq, state=OrderState.OPEN, created_at_us=now,
                updated_at_us=now, reserved=buy_reservation(wh, price, 0) if side is Side.BUY else wh,
            )  # fmt: skip
            chunk.append((order, owner))
        results = await store.ledger.create_transfers([reservation(o, u, now) for o, u in chunk])
        if any(r is not CreateTransferResult.OK for r in results):
            raise BenchError(f"the ledger refused bench reservations: {set(map(str, results))}")

        async def rows(repositories: Repositories, chunk: list[tuple[Order, User]] = chunk) -> None:
            for order, _owner in chunk:
                await repositories.markets.insert_order(order)

        await store.atomic(rows)

    async def sequences(repositories: Repositories) -> None:
        await repositories.markets.lock_market(cluster_id)
        await repositories.markets.save_market(MarketState(cluster_id, next_order_seq=count + 1))

    await store.atomic(sequences)
    return time.perf_counter() - started


async def placing(bench: Bench, places: int) -> dict[str, float]:
    """``places`` orders in each book, alternating books; every fifth crosses the best ask."""
    platform = bench.platform
    latencies: dict[str, list[float]] = {SHALLOW: [], DEEP: []}
    fills = 0
    for i in range(places):
        trader = bench.traders[i // 5 % len(bench.traders)]  # at most 5 open orders each, under the cap
        proof = await platform.users.verify_pin(trader, population.BENCH_PIN)
        crossing = i % 5 == 4
        for cluster_id in (SHALLOW, DEEP) if i % 2 else (DEEP, SHALLOW):
            started = time.perf_counter()
            placed = await platform.orders.place(
                proof, trader, cluster_id, Side.BUY, 200, 175 if crossing else 110, good_for_day=True
            )
            latencies[cluster_id].append((time.perf_counter() - started) * 1000)
            fills += len(placed.trades)
            if crossing and not placed.trades:
                raise BenchError(f"a crossing order did not fill in {cluster_id}")
    out: dict[str, float] = {"place_fills": float(fills)}
    for cluster_id, name in ((SHALLOW, "shallow"), (DEEP, "deep")):
        out[f"place_{name}_p50_ms"] = percentile(latencies[cluster_id], 0.5)
        out[f"place_{name}_p99_ms"] = percentile(latencies[cluster_id], 0.99)
    out["place_deep_over_shallow_p99"] = out["place_deep_p99_ms"] / out["place_shallow_p99_ms"]
    return out


async def quoting(bench: Bench, count: int) -> dict[str, float]:
    platform = bench.platform
    queue = list(range(count))

    async def quoter() -> None:
        while queue:
            i = queue.pop()
            await platform.prices.quote(bench.traders[i % len(bench.traders)], SHALLOW, 1000 + i % 7 * 100)

    started = time.perf_counter()
    await asyncio.gather(*(quoter() for _ in range(QUOTERS)))
    return {"quotes_per_s": count / (time.perf_counter() - started)}


@contextlib.asynccontextmanager
async def database(backend: str, work: Path) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{work}/markets.db"
        return
    async with postgres_database("markets") as url:
        yield url


async def bench_backend(backend: str, opts: argparse.Namespace, work: Path) -> dict[str, float]:
    results: dict[str, float] = {}
    async with database(backend, work) as url:
        progress(f"[{backend}] books of {SHALLOW_ORDERS:,} and {opts.resting:,} resting orders")
        bench = await build(url, max(opts.places // 5 + 1, 50))
        try:
            await seed_book(bench, SHALLOW, SHALLOW_ORDERS)
            results["seed_deep_s"] = await seed_book(bench, DEEP, opts.resting)
            if backend == "postgres":
                await population.analyze_postgres(url)
            progress(f"[{backend}] placing {opts.places:,} orders in each book")
            results |= await placing(bench, opts.places)
            progress(f"[{backend}] {opts.quotes:,} quotes")
            results |= await quoting(bench, opts.quotes)
        finally:
            await bench.platform.close()
        await procs.cli(url, PEPPER, "ledger", "verify")
    return {f"markets.{backend}.{key}": value for key, value in results.items()}


ROWS = (
    ("place_shallow_p50_ms", "place, 100 resting: p50 ms"),
    ("place_shallow_p99_ms", "place, 100 resting: p99 ms"),
    ("place_deep_p50_ms", "place, deep book: p50 ms"),
    ("place_deep_p99_ms", "place, deep book: p99 ms"),
    ("place_deep_over_shallow_p99", "deep p99 / shallow p99 (goal <= 1.2)"),
    ("quotes_per_s", "quotes/s (16 at once)"),
)


async def main_async(opts: argparse.Namespace) -> int:
    backends = ("sqlite", "postgres") if opts.backend == "all" else (opts.backend,)
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="enerlectra-bench-markets-") as directory:
        for backend in backends:
            results |= await bench_backend(backend, opts, Path(directory))
    title = f"markets ({opts.resting:,} resting, {opts.places:,} places)"
    print(f"\n{title:<52}{'value':>12}")
    for backend in backends:
        for key, label in ROWS:
            value = results.get(f"markets.{backend}.{key}")
            if value is not None:
                print(f"{backend + ' ' + label:<52}{value:>12.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({k: round(v, 3) for k, v in results.items()}, indent=1, sort_keys=True) + "\n")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.markets", description=__doc__.split("\n")[0])
    parser.add_argument("--resting", type=int, default=100_000, help="resting orders in the deep book")
    parser.add_argument("--places", type=int, default=1000, help="orders placed in each book")
    parser.add_argument("--quotes", type=int, default=2000)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
