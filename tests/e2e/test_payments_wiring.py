"""Mobile money through the running app: the embedded provider simulator, callbacks and the worker.

A payment started in the app is submitted by its worker over real HTTP to the
provider simulator, which approves it like a quick handset and calls the
app back; the callback makes the app read the status, and only then does
money move. Callbacks are authenticated by the secret in their URL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp

from engine.payments.model import Payment, PaymentState
from tests.e2e.conftest import World
from ussd_server.demo import DEMO_PIN
from ussd_server.settings.payments import DEV_CALLBACK_SECRET

MTN_NUMBER = "+260961234570"


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.05)
    return False


async def final(world: World, payment: Payment) -> Payment:
    async def ended() -> bool:
        return (await world.platform.payments.get(payment.id)).final

    assert await eventually(ended), await world.platform.payments.get(payment.id)
    return await world.platform.payments.get(payment.id)


async def test_a_deposit_and_a_withdrawal_complete_by_themselves(world: World) -> None:
    user = await world.platform.users.register(phone=MTN_NUMBER, name="Mwila Banda", language="en", pin=DEMO_PIN)
    before = (await world.platform.wallet.balances(user)).ngwee
    started = await world.platform.payments.deposit(user, 50_00)
    deposit = await final(world, started.payment)
    assert deposit.state is PaymentState.SUCCESSFUL
    assert deposit.provider_txn_id  # the provider's own reference, for the SMS and statements
    assert (await world.platform.wallet.balances(user)).ngwee == before + 50_00
    assert deposit.reference[:5] in await world.sms_containing(MTN_NUMBER, deposit.reference[:5])

    proof = await world.platform.users.verify_pin(user, DEMO_PIN)
    withdrawal = await final(world, (await world.platform.payments.withdraw(proof, user, 20_00)).payment)
    assert withdrawal.state is PaymentState.SUCCESSFUL
    assert (await world.platform.wallet.balances(user)).ngwee == before + 30_00
    report = await world.platform.verify_ledger()
    assert report.ok, report.problems


async def test_callbacks_need_their_secret_and_are_only_hints(world: World) -> None:
    base = str(world.client.make_url("/callbacks/momo/mtn/"))
    async with aiohttp.ClientSession() as http:
        async with http.put(base + "not-the-secret", json={"externalId": "x", "status": "SUCCESSFUL"}) as reply:
            assert reply.status == 404
        async with http.put(base + DEV_CALLBACK_SECRET, data=b"not json") as reply:
            assert reply.status == 400
        # A forged "successful" callback for a payment nobody started moves nothing.
        forged = {"externalId": "dep-forged", "status": "SUCCESSFUL", "amount": "100", "currency": "ZMW"}
        async with http.post(base + DEV_CALLBACK_SECRET, json=forged) as reply:
            assert reply.status == 200
        async with http.put(str(world.client.make_url("/callbacks/momo/zamtel/")) + DEV_CALLBACK_SECRET) as reply:
            assert reply.status == 404
    assert (await world.platform.verify_ledger()).ok
