"""Steps the mobile-money e2e tests share (tests/e2e/test_payments_*.py): users on a network with mobile
money, the provider a number uses, telling the provider simulator how to answer, waiting for a payment to end.

The e2e app serves the provider simulator itself (dev mode, no provider URL;
tests/e2e/conftest.py has it approve a deposit after 100 ms), so payments end
by themselves unless a rule says otherwise.
"""

from __future__ import annotations

import asyncio

import aiohttp

from engine.identity.model import User
from engine.kernel.errors import ProviderUnavailable
from engine.kernel.local_time import local_text
from engine.payments.model import Payment
from tests.e2e.conftest import World
from tests.support.phones import unique_phone
from ussd_server.demo import DEMO_PIN
from ussd_server.payments.providers import MOBILE_MONEY

SETTLE_TIMEOUT_S = 20.0  # how long a test waits for the provider simulator to end a payment (not asserted)
HOLD_MS = 600_000  # a provider that answers a payment only after the test has ended


async def mobile_money_user(world: World, language: str = "en", name: str = "Test Person") -> User:
    """A new user (K5.00 starting credit) whose number's network has a provider this app reaches."""
    for _ in range(20):
        phone = unique_phone()
        user = await world.platform.users.register(phone=phone, name=name, language=language, pin=DEMO_PIN)
        try:
            world.platform.payments.provider_for(user)
        except ProviderUnavailable:
            continue
        return user
    raise AssertionError("no number with a reachable mobile-money provider")


def provider_of(world: World, user: User) -> str:
    return str(world.platform.payments.provider_for(user))


async def provider_rule(world: World, **rule: object) -> None:
    """Tell the provider simulator how to answer the calls ``rule`` matches (simulator/momo/faults.py).

    ``provider_rule(world, msisdn=phone, kind="disbursement", delay_ms=HOLD_MS)`` holds a payout;
    ``reason="NOT_ENOUGH_FUNDS"`` fails the payment with that reason.
    """
    url = world.client.app[MOBILE_MONEY].simulator_url
    assert url is not None, "the e2e app serves the provider simulator (dev mode, no provider URL set)"
    async with aiohttp.ClientSession() as http, http.post(f"{url}/_sim/rules", json=rule) as reply:
        assert reply.status == 201, await reply.text()


async def settled(world: World, payment_id: str, timeout_s: float = SETTLE_TIMEOUT_S) -> Payment:
    """The payment once it has ended (the provider simulator answered); fails with its state if it never does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        payment = await world.platform.payments.get(payment_id)
        if payment.final:
            return payment
        if loop.time() > deadline:
            raise AssertionError(f"payment {payment_id} did not end in {timeout_s} s: {payment}")
        await asyncio.sleep(0.05)


def today(world: World) -> str:
    """A statement line's date for something done now (Zambian time)."""
    return local_text(world.platform.clock.now_us(), world.platform.config.local_utc_offset_s, "%d/%m")
