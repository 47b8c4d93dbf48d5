"""Mobile money in the server process: the providers, the embedded simulator in dev, the worker.

Opened once per process in the app's cleanup context (:func:`open_payments`)
and closed with it. The provider directory is given to the platform; the
worker runs beside the outbox worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from ussd_server.payments.airtel import AirtelConfig
from ussd_server.payments.mtn import MtnConfig
from ussd_server.payments.worker import PaymentWorker

if TYPE_CHECKING:
    from simulator.momo.config import MomoSimConfig

log = logging.getLogger("enerlectra.payments")

PAYMENT_WORKER = web.AppKey("payment_worker", PaymentWorker)


@dataclass(frozen=True, slots=True)
class EmbeddedSimulator:
    """The provider simulator served by this process (dev mode with no provider URL set)."""

    base_url: str
    runner: web.AppRunner
    credentials: MomoSimConfig
    timeout_s: float

    def mtn(self, callback_url: str, currency: str) -> MtnConfig:
        sim = self.credentials
        return MtnConfig(
            base_url=self.base_url,
            api_user=sim.mtn_api_user,
            api_key=sim.mtn_api_key,
            collection_key=sim.mtn_collection_key,
            disbursement_key=sim.mtn_disbursement_key,
            target_environment=sim.mtn_target_environment,
            currency=currency,
            callback_url=callback_url,
            timeout_s=self.timeout_s,
        )

    def airtel(self, callback_url: str, currency: str) -> AirtelConfig:
        sim = self.credentials
        return AirtelConfig(
            base_url=self.base_url,
            client_id=sim.airtel_client_id,
            client_secret=sim.airtel_client_secret,
            disbursement_pin="simulated-pin",
            currency=currency,
            callback_url=callback_url,
            timeout_s=self.timeout_s,
        )


async def start_embedded_simulator(
    host: str, *, approve_after_ms: int | None, airtel_callback_url: str, timeout_s: float
) -> EmbeddedSimulator:
    """Serve the provider simulator on a free port of ``host`` (dev only: see settings.payments)."""
    # Imported here: a production server never loads the simulator (an import-linter contract).
    from simulator.momo.app import create_momo_sim
    from simulator.momo.config import MomoSimConfig

    config = MomoSimConfig(approve_after_ms=approve_after_ms, airtel_callback_url=airtel_callback_url)
    runner = web.AppRunner(create_momo_sim(config), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = runner.addresses[0][1]
    return EmbeddedSimulator(f"http://{host}:{port}", runner, config, timeout_s)


@contextlib.asynccontextmanager
async def running(worker: PaymentWorker, stop_timeout_s: float) -> AsyncIterator[None]:
    """Run ``worker`` until the block ends, then let its steps in flight finish."""
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run_forever(stop), name="payment-worker")
    try:
        yield
    finally:
        stop.set()
        worker.wake()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=stop_timeout_s)
        await worker.drain(stop_timeout_s)
