"""The payment worker: one step per payment at a time, callbacks' hints bounded, due payments claimed."""

from __future__ import annotations

import asyncio
import random

from engine.kernel.clock import ManualClock
from engine.payments.config import PaymentConfig
from engine.payments.model import PaymentState, Provider
from engine.platform import Platform
from storage import open_store
from tests.conftest import TEST_CONFIG, TEST_HASHER
from tests.support.provider_model import ModelProvider
from ussd_server.payments import worker as worker_module
from ussd_server.payments.worker import PaymentWorker

PIN = "5173"


async def world() -> tuple[Platform, ModelProvider, ManualClock]:
    clock = ManualClock()
    provider = ModelProvider(random.Random(3), flaky_status=0.0, submits_script=["accept"] * 50)
    database = await open_store("memory:", clock=clock)
    platform = Platform(database, TEST_CONFIG, TEST_HASHER, clock, providers=provider, payments=PaymentConfig())
    await platform.bootstrap()
    return platform, provider, clock


async def settled(worker: PaymentWorker) -> None:
    await worker.drain(5.0)


async def test_a_started_payment_is_submitted_at_once_and_a_hint_settles_it() -> None:
    platform, provider, _clock = await world()
    worker = PaymentWorker(platform.payments)
    platform.payments.on_started = worker.submit_soon
    user = await platform.users.register(phone="+260961000001", name="Mwila Banda", language="en", pin=PIN)
    payment = (await platform.payments.deposit(user, 5_000)).payment
    await settled(worker)
    assert (await platform.payments.get(payment.id)).state is PaymentState.PENDING
    provider.decide("successful", payment.attempt_id)
    assert worker.hint(Provider.MTN, payment.id)
    await settled(worker)
    assert (await platform.payments.get(payment.id)).state is PaymentState.SUCCESSFUL
    assert (await platform.wallet.balances(user)).ngwee == TEST_CONFIG.starting_credit_ngwee + 5_000
    assert worker.hint(Provider.MTN, "no-such-payment")  # looked up, found nothing, nothing happens
    await settled(worker)
    await platform.close()


async def test_the_same_hint_twice_is_one_lookup_and_hints_are_bounded() -> None:
    platform, _provider, _clock = await world()
    worker = PaymentWorker(platform.payments)
    assert worker.hint(Provider.AIRTEL, "attempt-1")
    assert not worker.hint(Provider.AIRTEL, "attempt-1")  # already waiting
    assert worker.hint(Provider.MTN, "attempt-1")  # another provider's id is another hint
    worker_module.MAX_PENDING_HINTS, saved = 2, worker_module.MAX_PENDING_HINTS
    try:
        assert not worker.hint(Provider.MTN, "attempt-2")  # a flood is cut, the polling schedule remains
    finally:
        worker_module.MAX_PENDING_HINTS = saved
    await settled(worker)
    assert worker.hint(Provider.AIRTEL, "attempt-1")  # done: a new hint is looked up again
    await settled(worker)
    await platform.close()


async def test_a_payment_busy_here_gets_one_more_step_after_the_current_one() -> None:
    platform, provider, _clock = await world()
    steps: list[PaymentState] = []
    worker = PaymentWorker(platform.payments, on_step=lambda p: steps.append(p.state))
    user = await platform.users.register(phone="+260961000002", name="Chipo Phiri", language="en", pin=PIN)
    payment = (await platform.payments.deposit(user, 2_000)).payment
    worker.submit_soon(payment)
    worker.submit_soon(payment)  # while the first step runs: queued behind it, not beside it
    worker.submit_soon(payment)  # folded into the same one more step
    await settled(worker)
    await asyncio.sleep(0)
    assert steps[0] is PaymentState.PENDING
    assert len(steps) == 2  # the submit, then one status check
    assert provider.submits[payment.id] == 1
    await platform.close()
