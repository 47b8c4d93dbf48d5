"""Order-book benchmark: the pure matching engine next to a minimal price-time book, on the same order stream.

``python -m bench.markets_engine [--orders N] [--rounds N] [--seed N] [--quick] [--output [PATH]]``

Nothing here touches a database, a server or the ledger: it measures
:class:`engine.markets.book.OrderBook` alone (matching, the money of every
fill, the orders' bookkeeping), the part of placing an order no database can
hide.

* **The stream** (seeded, built before any timing): ``--orders`` orders of
  100-5,000 Wh at prices around K1.20/kWh +-15 ngwee. 60% rest (a bid below
  the mid, an ask above it); 40% cross (priced through the mid, they take
  whatever rests on the other side up to their limit). Each comes from one of
  ``USERS`` traders, so a few meet their own order and self-trade prevention
  stops them. About one event in ten cancels a random earlier order (resting,
  filled or already gone).
* **The baseline**, written below: the simplest honest price-time book. Two
  heaps with lazy deletion, fills at the resting price, no self-trade
  prevention, no money, no order records, integer ids.
* **Rounds**: each round runs the engine and the baseline on the same stream,
  in an order that flips every round (ABBA); rates are medians over rounds,
  the ratio the median of per-round ratios. The goal is engine/baseline >= 0.5.
* **Correctness guard**: on a stream where every order has its own trader (so no
  self-trades), both books must make the very same fills (orders, Wh, price),
  or the benchmark fails.

Results: a table; ``--output`` also writes the flat keys as JSON (by default
``bench/results/markets-engine-latest.json``).
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.markets.book import OrderBook
from engine.markets.matching import buy_reservation
from engine.markets.model import Order, OrderState, Side

RESULTS_PATH = Path(__file__).parent / "results" / "markets-engine-latest.json"
DEFAULT_ORDERS = 200_000
DEFAULT_ROUNDS = 3
GUARD_ORDERS = 50_000
USERS = 2_000
MID = 120  # ngwee/kWh
SPREAD = 15
CROSSING_SHARE = 0.4
CANCEL_SHARE = 0.1
FEE_BPS = 50
GOAL_RATIO = 0.5
SLOT_US = 900_000_000
SLOT = 1_767_240_000_000_000

Fill = tuple[int, int, int, int]  # buy seq, sell seq, Wh, price


class BenchError(Exception):
    pass


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True, slots=True)
class Event:
    """A new order (``cancel`` 0) or the cancel of order ``cancel``."""

    seq: int
    user: int
    buying: bool
    price: int
    wh: int
    cancel: int = 0


def make_stream(orders: int, seed: int, *, own_traders: bool = False) -> list[Event]:
    """``orders`` new orders and about one cancel for every nine of them, reproducibly."""
    rng = random.Random(seed)
    events: list[Event] = []
    seq = 0
    while seq < orders:
        if seq and rng.random() < CANCEL_SHARE:
            events.append(Event(0, 0, False, 0, 0, cancel=rng.randint(1, seq)))
            continue
        seq += 1
        buying = rng.random() < 0.5
        crossing = rng.random() < CROSSING_SHARE
        offset = rng.randint(0, SPREAD) if crossing else rng.randint(1, SPREAD)
        toward = 1 if buying == crossing else -1  # a crossing bid sits above the mid, a resting one below
        user = seq if own_traders else rng.randint(1, USERS)
        events.append(Event(seq, user, buying, MID + toward * offset, rng.randint(100, 5_000)))
    return events


# --- the baseline ----------------------------------------------------------------------------------


class BaselineBook:
    """Price-time priority in two heaps; a cancelled or filled order is dropped when it reaches the top."""

    def __init__(self) -> None:
        self.bids: list[tuple[int, int]] = []  # (-price, seq)
        self.asks: list[tuple[int, int]] = []  # (price, seq)
        self.left: dict[int, int] = {}  # Wh left of every live order

    def submit(self, seq: int, buying: bool, price: int, wh: int, fills: list[Fill] | None = None) -> int:
        """Match, then rest what is left; the number of fills."""
        other = self.asks if buying else self.bids
        left = self.left
        made = 0
        while wh and other:
            key, maker = other[0]
            rest = left.get(maker)
            if rest is None:
                heapq.heappop(other)
                continue
            at = key if buying else -key
            if (at > price) if buying else (at < price):
                break
            size = rest if rest < wh else wh
            wh -= size
            made += 1
            if fills is not None:
                fills.append((seq, maker, size, at) if buying else (maker, seq, size, at))
            if size == rest:
                heapq.heappop(other)
                del left[maker]
            else:
                left[maker] = rest - size
        if wh:
            heapq.heappush(self.bids if buying else self.asks, (-price if buying else price, seq))
            left[seq] = wh
        return made

    def cancel(self, seq: int) -> None:
        self.left.pop(seq, None)


# --- the two runs -------------------------------------------------------------------------------------


def engine_orders(stream: Sequence[Event]) -> list[Order | None]:
    """The engine's order records, as placing them makes them (built before the clock starts)."""
    made: list[Order | None] = []
    for e in stream:
        if e.cancel:
            made.append(None)
            continue
        side = Side.BUY if e.buying else Side.SELL
        reserved = buy_reservation(e.wh, e.price, FEE_BPS) if e.buying else e.wh
        made.append(Order(id=f"op-{e.seq}", reference=f"MK{e.seq}", cluster_id="bench", user_id=e.user, side=side,
                          price=e.price, wh=e.wh, remaining_wh=e.wh, slot_start_us=SLOT, good_for_day=False,
                          trade_until_us=SLOT - SLOT_US // 3, expires_at_us=SLOT + SLOT_US, seq=e.seq,
                          state=OrderState.OPEN, created_at_us=SLOT - SLOT_US + e.seq,
                          updated_at_us=SLOT - SLOT_US + e.seq, reserved=reserved))  # fmt: skip
    return made


@dataclass
class Outcome:
    seconds: float
    fills: int
    filled_wh: int
    self_trades: int = 0


def run_engine(stream: Sequence[Event], orders: Sequence[Order | None], fills: list[Fill] | None = None) -> Outcome:
    book = OrderBook(fee_bps=FEE_BPS)
    n = filled = self_trades = 0
    submit, cancel = book.submit, book.cancel
    started = time.perf_counter()
    for event, order in zip(stream, orders, strict=True):
        if order is None:
            cancel(f"op-{event.cancel}")
            continue
        result = submit(order)
        n += len(result.fills)
        self_trades += result.self_trade
        for f in result.fills:
            filled += f.wh
            if fills is not None:
                fills.append((f.buy.seq, f.sell.seq, f.wh, f.price))
    return Outcome(time.perf_counter() - started, n, filled, self_trades)


def run_baseline(stream: Sequence[Event], fills: list[Fill] | None = None) -> Outcome:
    book = BaselineBook()
    n = 0
    submit, cancel = book.submit, book.cancel
    started = time.perf_counter()
    for e in stream:
        if e.cancel:
            cancel(e.cancel)
        else:
            n += submit(e.seq, e.buying, e.price, e.wh, fills)
    seconds = time.perf_counter() - started
    filled = sum(f[2] for f in fills) if fills is not None else 0
    return Outcome(seconds, n, filled)


def guard(orders: int, seed: int) -> int:
    """Both books make the same fills on a stream without self-trades; the number of fills."""
    stream = make_stream(orders, seed + 1, own_traders=True)
    ours: list[Fill] = []
    theirs: list[Fill] = []
    mine = run_engine(stream, engine_orders(stream), ours)
    base = run_baseline(stream, theirs)
    if mine.self_trades:
        raise BenchError(f"guard: {mine.self_trades} self-trades on a stream where every order has its own trader")
    if (mine.fills, mine.filled_wh) != (base.fills, base.filled_wh) or ours != theirs:
        first = next(
            (i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b), min(len(ours), len(theirs))
        )
        raise BenchError(
            f"guard: the engine made {mine.fills} fills ({mine.filled_wh} Wh), the baseline {base.fills} "
            f"({base.filled_wh} Wh); first difference at fill {first}"
        )
    return mine.fills


# --- reporting ------------------------------------------------------------------------------------------


def measure(stream: Sequence[Event], rounds: int) -> dict[str, Any]:
    orders = engine_orders(stream)
    submitted = sum(1 for e in stream if not e.cancel)
    engine_rates: list[float] = []
    base_rates: list[float] = []
    ratios: list[float] = []
    last: Outcome | None = None
    for r in range(rounds):
        runs: list[tuple[str, Callable[[], Outcome]]] = [
            ("engine", lambda: run_engine(stream, orders)),
            ("baseline", lambda: run_baseline(stream)),
        ]
        got: dict[str, Outcome] = {}
        for name, run in runs if r % 2 == 0 else runs[::-1]:
            got[name] = run()
        last = got["engine"]
        engine_rates.append(submitted / got["engine"].seconds)
        base_rates.append(submitted / got["baseline"].seconds)
        ratios.append(engine_rates[-1] / base_rates[-1])
        progress(f"  round {r + 1}: engine {engine_rates[-1]:,.0f}/s, baseline {base_rates[-1]:,.0f}/s")
    assert last is not None
    return {
        "markets.orders": submitted,
        "markets.cancels": len(stream) - submitted,
        "markets.engine.orders_per_s": round(statistics.median(engine_rates)),
        "markets.baseline.orders_per_s": round(statistics.median(base_rates)),
        "markets.ratio": round(statistics.median(ratios), 3),
        "markets.ratio.goal": GOAL_RATIO,
        "markets.ratio.met": statistics.median(ratios) >= GOAL_RATIO,
        "markets.engine.fills": last.fills,
        "markets.engine.filled_wh": last.filled_wh,
        "markets.engine.self_trades": last.self_trades,
        "markets.engine.us_per_order": round(1e6 / statistics.median(engine_rates), 2),
        "markets.baseline.us_per_order": round(1e6 / statistics.median(base_rates), 2),
    }


def render(keys: dict[str, Any]) -> str:
    k = keys
    met = "met" if k["markets.ratio.met"] else "NOT met"
    rows = [
        ("orders (and cancels)", f"{k['markets.orders']:,} ({k['markets.cancels']:,})"),
        ("fills, self-trades stopped", f"{k['markets.engine.fills']:,}, {k['markets.engine.self_trades']:,}"),
        ("engine: orders/s", f"{k['markets.engine.orders_per_s']:,} ({k['markets.engine.us_per_order']} us)"),
        ("baseline: orders/s", f"{k['markets.baseline.orders_per_s']:,} ({k['markets.baseline.us_per_order']} us)"),
        ("engine / baseline", f"{k['markets.ratio']:.3f} (goal >= {GOAL_RATIO}: {met})"),
        ("guard: same fills, no STP", f"{k['markets.guard.fills']:,} fills identical"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.markets_engine", description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=DEFAULT_ORDERS, help="orders in the stream")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="alternating rounds (medians reported)")
    parser.add_argument("--seed", type=int, default=13, help="the stream's random seed")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20,000 orders, 1 round")
    parser.add_argument(
        "--output",
        type=Path,
        nargs="?",
        const=RESULTS_PATH,
        default=None,
        help="also write the JSON results (to bench/results/markets-engine-latest.json unless a path is given)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.orders, args.rounds = 20_000, 1
    if args.orders < 1 or args.rounds < 1:
        parser.error("--orders and --rounds must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started, load_before, wall = datetime.now(UTC), os.getloadavg()[0], time.perf_counter()
    try:
        progress(f"guard: {min(args.orders, GUARD_ORDERS):,} orders, each its own trader")
        guard_fills = guard(min(args.orders, GUARD_ORDERS), args.seed)
        progress(f"stream: {args.orders:,} orders, {args.rounds} round(s)")
        keys = measure(make_stream(args.orders, args.seed), args.rounds)
    except BenchError as exc:
        print(f"BENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    keys |= {
        "markets.guard.fills": guard_fills,
        "markets.fee_bps": FEE_BPS,
        "markets.seed": args.seed,
        "bench.rounds": args.rounds,
        "bench.wall_s": round(time.perf_counter() - wall, 1),
        "machine.nproc": os.cpu_count(),
        "machine.python": platform.python_version(),
        "machine.platform": platform.platform(),
        "machine.loadavg_1m_before": round(load_before, 2),
        "machine.loadavg_1m_after": round(os.getloadavg()[0], 2),
        "timestamp": started.isoformat(timespec="seconds"),
    }
    print(render(keys))
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(keys, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
