"""Per-hop cost of the menu runtime alone (no database, no Redis, no HTTP).

Two static screens are walked back and forth (``account`` -> ``2`` ->
``account.language`` -> ``0`` -> ``account``): input check, one transitions
trigger, back-stack handling and rendering from the catalogs. The baseline in
the same run is one bare ``machine.events[...].trigger`` call.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from typing import Any

from ussd_server.app import build_runtime
from ussd_server.menu.context import Hop
from ussd_server.sessions.model import Session
from ussd_server.settings import Settings

ROUNDS = 20_000


class _Model:
    state = "account"


async def measure() -> dict[str, float]:
    runtime, catalogs = build_runtime()
    settings = Settings.from_env({})
    session = Session(id="bench", phone="+260977123456", state="account")
    # No platform or limiter: these screens reach neither the database nor a PIN check.
    hop = Hop(session, None, settings, catalogs, limiter=None, deadline=math.inf)  # type: ignore[arg-type]

    async def two_hops() -> None:
        await runtime.respond(hop, "2")
        await runtime.respond(hop, "0")

    for _ in range(500):
        await two_hops()
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(ROUNDS // 5):
            await two_hops()
        samples.append((time.perf_counter() - start) / (2 * ROUNDS // 5) * 1e6)

    machine: Any = runtime.tree.machine
    model = _Model()
    there, back = machine.events["opt_2"], machine.events["opt_1"]
    start = time.perf_counter()
    for _ in range(ROUNDS):
        model.state = "account"
        there.trigger(model)
    trigger_us = (time.perf_counter() - start) / ROUNDS * 1e6
    del back
    return {"menu.hop_us": statistics.median(samples), "menu.trigger_us": trigger_us}


def main() -> None:
    result = asyncio.run(measure())
    print(f"menu runtime per hop : {result['menu.hop_us']:.1f} us (render + input + transition)")
    print(f"bare transitions trigger: {result['menu.trigger_us']:.1f} us")
    print(f"runtime / trigger      : {result['menu.hop_us'] / result['menu.trigger_us']:.1f}x")


if __name__ == "__main__":
    main()
