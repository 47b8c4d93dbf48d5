"""A trading client for the markets drill: sends its orders one after another, is SIGKILLed, and sends again.

    python -m tests.drills.market_worker URL WORKER FIRST COUNT SHIFT_US LOSE_EVERY

Worker ``w`` places orders ``FIRST``..``COUNT-1`` of its plan (:func:`plan`) in the drill's
cluster, as its two traders (a seller and a buyer), each with operation id
``drill-<w>-<k>`` and a fresh PIN check. After each it prints ``ack K REPLAYED FILLS``
(placed: committed) or ``refused K CODE``, and ``done`` at the end. Started again
from an earlier ``K`` it re-sends orders it may or may not have placed, as a
client that never heard back does. Every ``LOSE_EVERY``-th order (0: none) it
kills itself with SIGKILL right after the order committed, before printing its
answer: the reply lost on the way, the worst moment to die (not again for the
same order when it re-sends it). Its clock is the wall clock moved back by
``SHIFT_US``: every process of the drill sees the same, mid-slot, time.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys

from engine.kernel.clock import SystemClock
from engine.kernel.errors import EnerlectraError
from engine.markets.model import Side
from storage import open_store
from tests.conftest import TEST_HASHER
from tests.support.market_world import PIN, market_platform, trader_phone

CLUSTER = "drill-grid"
FEE_BPS = 100
RESEND = 2  # a restarted client re-sends this many orders it heard back about, then the one it did not


class ShiftedClock:
    """The wall clock, ``shift_us`` earlier: a fixed moment of the market's day that still moves."""

    def __init__(self, shift_us: int) -> None:
        self.shift_us = shift_us

    def now_us(self) -> int:
        return SystemClock().now_us() - self.shift_us


def operation_id(worker: int, k: int) -> str:
    return f"drill-{worker}-{k}"


def traders(worker: int) -> tuple[int, int]:
    """The world's numbers of the worker's seller and buyer."""
    return 2 * worker + 1, 2 * worker + 2


def plan(worker: int, k: int, floor: int, cap: int) -> tuple[Side, int, int]:
    """Order k of a worker: sells (even k) at or below the band's middle, buys at or above, so every
    buy crosses every sell; a buy is as big as the sell before it, so each worker's book stays level."""
    mid = (floor + cap) // 2
    wh = 100 * random.Random(f"{worker}:{k // 2}").randint(1, 15)
    price = random.Random(f"{worker}:{k}").randint(floor, mid)
    if k % 2:
        return Side.BUY, wh, mid + (mid - price)
    return Side.SELL, wh, price


def restart_from(last_answered: int) -> int:
    """Where a restarted client starts: a few orders before the one it never heard back about."""
    return max(0, last_answered + 1 - RESEND)


def loses_answer(k: int, first: int, lose_every: int) -> bool:
    """Whether the client dies before hearing back about order k (never when re-sending it)."""
    return lose_every > 0 and k % lose_every == lose_every // 3 and k > first + RESEND


async def main(url: str, worker: int, first: int, count: int, shift_us: int, lose_every: int) -> None:
    clock = ShiftedClock(shift_us)
    store = await open_store(url, clock=clock, pool_size=2)
    platform = market_platform(store, clock, TEST_HASHER, fee_bps=FEE_BPS)
    try:
        seller_n, buyer_n = traders(worker)
        seller = await platform.users.get(trader_phone(seller_n))
        buyer = await platform.users.get(trader_phone(buyer_n))
        tariff = await platform.prices.tariff(CLUSTER)
        for k in range(first, count):
            side, wh, price = plan(worker, k, tariff.floor, tariff.cap)
            user = seller if side is Side.SELL else buyer
            proof = await platform.users.verify_pin(user, PIN)
            try:
                placed = await platform.orders.place(
                    proof, user, CLUSTER, side, wh, price, operation_id=operation_id(worker, k)
                )
            except EnerlectraError as refused:
                print(f"refused {k} {refused.code}", flush=True)
                continue
            if loses_answer(k, first, lose_every):
                os.kill(os.getpid(), signal.SIGKILL)
            print(f"ack {k} {int(placed.replayed)} {len(placed.trades)}", flush=True)
        print("done", flush=True)
    finally:
        await platform.close()
        TEST_HASHER.close()


if __name__ == "__main__":
    url, worker, first, count, shift, lose_every = sys.argv[1:7]
    asyncio.run(main(url, int(worker), int(first), int(count), int(shift), int(lose_every)))
