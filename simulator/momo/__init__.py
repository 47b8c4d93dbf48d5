"""A mobile-money provider simulator: MTN MoMo Open API and Airtel Money Africa API, with fault control.

``create_momo_sim(MomoSimConfig(...))`` is an aiohttp application that answers
like the real providers (paths, headers, bodies, status codes, callbacks) and
is steered through ``/_sim/`` (see ``control``). ``python -m simulator.momo``
serves it. Pure aiohttp: it imports nothing from the server, the storage or the
rest of ``simulator``.

Modules: ``config`` (settings), ``model`` (a transaction), ``money`` (exact
amounts), ``faults`` (rules and chaos), ``world`` (state, outcomes, callbacks),
``mtn`` / ``mtn_wire`` and ``airtel`` / ``airtel_wire`` (the two APIs),
``statement`` (CSV), ``control`` (``/_sim``), ``app``.
"""

from __future__ import annotations

from simulator.momo.app import create_momo_sim
from simulator.momo.config import MomoSimConfig

__all__ = ["MomoSimConfig", "create_momo_sim", "main"]


def main(argv: list[str] | None = None) -> int:
    """``python -m simulator.momo --port 8090 --approve-after-ms 2000``."""
    from simulator.momo.cli import main as run

    return run(argv)
