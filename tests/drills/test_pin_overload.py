"""Drill: more PINs at once than the KDF can check in time are shed, not queued past the gateway's patience.

Callers all confirm a purchase with their PIN at the same moment, at the
production scrypt cost, on a server whose PIN wait budget is the smallest
allowed. Those whose check would wait too long must be told at once, on the
same PIN screen, to enter it again; none of them may lose a try; and when
they do enter it again, as people do, every purchase goes through exactly once.
The number of callers grows with the machine's cores so that the burst is
always more than its KDF threads can check within the budget.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from engine.identity.model import User
from tests.drills.audit import cli_verify, wallets
from tests.drills.conftest import Report
from tests.drills.journeys import COST, on_buy_pin_screen, t
from tests.drills.stack import PIN, Stack, open_stack
from tests.support.gateway import Phone, http_gateways
from ussd_server.kdf_pool import usable_cores

pytestmark = pytest.mark.drill
CALLERS = 8 * usable_cores()  # the server runs on this machine: its KDF has usable_cores() - 1 threads
RETRY_PAUSE_S = 0.2
MAX_ROUNDS = 100


async def send_pin(phone: Phone) -> tuple[str, float]:
    started = time.perf_counter()
    reply = await phone.send(PIN)  # checked: HTTP 200, CON/END, within 160 characters
    return reply, time.perf_counter() - started


async def test_a_burst_of_pins_is_shed_with_no_try_lost_and_every_purchase_made_once(
    database_url: str, tmp_path: Path, report: Report
) -> None:
    settings = {"PIN_KDF_LOG2_N": "14", "PIN_MAX_WAIT_MS": "100"}
    async with (
        open_stack(database_url, tmp_path, callers=CALLERS, servers=1, settings=settings) as stack,
        http_gateways([stack.server.url]) as [gateway],
    ):
        before = await wallets(stack)
        # One purchase first, so the server has timed its KDF (it sheds nothing before it knows the cost).
        first, *burst = stack.callers
        warm = await on_buy_pin_screen(stack, gateway, first)
        assert (await warm.send(PIN)).startswith("END "), warm.last
        phones = {user.phone: await on_buy_pin_screen(stack, gateway, user) for user in burst}
        screens = {number: phone.last for number, phone in phones.items()}

        waiting = dict.fromkeys(phones, None)
        busy, rounds, slowest_busy, slowest_receipt = 0, 0, 0.0, 0.0
        while waiting and rounds < MAX_ROUNDS:
            rounds += 1
            numbers = list(waiting)
            answers = await asyncio.gather(*(send_pin(phones[n]) for n in numbers))
            for number, (reply, took) in zip(numbers, answers, strict=True):
                user = next(u for u in burst if u.phone == number)
                if reply.startswith("END "):
                    assert is_receipt(stack, user, reply), f"{number}: {reply!r}"
                    slowest_receipt = max(slowest_receipt, took)
                    del waiting[number]
                    continue
                assert reply == "CON " + t(stack, user, "err.pin_busy") + "\n" + screens[number][4:], (
                    f"{number}: neither a receipt nor the busy line over the same PIN screen: {reply!r}"
                )
                busy += 1
                slowest_busy = max(slowest_busy, took)
            await asyncio.sleep(RETRY_PAUSE_S)
        after = await wallets(stack)
        failures = await pin_failures(stack, burst)
        code, verify = await cli_verify(stack)

    report(
        load=f"{len(burst)} callers confirming a purchase with their PIN at the same moment, production scrypt "
        f"cost, 1 server process ({usable_cores()} cores, {max(1, usable_cores() - 1)} for the KDF)",
        faults="a PIN burst past the KDF's capacity, with PIN_MAX_WAIT_MS=100 (a PIN typed again after busy: 9 s)",
        result=f"{busy} busy answers over {rounds} rounds (slowest {slowest_busy * 1000:.0f} ms, slowest receipt "
        f"{slowest_receipt * 1000:.0f} ms); purchases {len(burst) - len(waiting)}/{len(burst)}; tries used by busy "
        f"answers: {sum(failures.values())}; ledger verify exit {code}",
    )
    assert not waiting, f"{len(waiting)} callers never got their purchase through after {rounds} rounds"
    assert busy > 0, "the burst was never shed: every check queued however long it had to wait"
    assert failures == dict.fromkeys(failures, 0), f"busy answers used PIN tries: {failures}"
    expected = {number: (ngwee - COST, wh + 100) for number, (ngwee, wh) in before.balances.items()}
    assert after.balances == expected, "each caller must have bought 0.1 kWh exactly once"
    assert code == 0, verify


def is_receipt(stack: Stack, user: User, reply: str) -> bool:
    """The purchase receipt: its catalog text up to the first value in it ("Done! " in English)."""
    lead = stack.catalogs.text(str(user.language), "buy.receipt").split("{")[0]
    return reply.startswith("END " + lead)


async def pin_failures(stack: Stack, users: list[User]) -> dict[str, int]:
    store = await stack.open_store()
    try:
        found = {u.phone: await store.users.user_by_phone(u.phone) for u in users}
    finally:
        await store.close()
    return {phone: user.pin_failures if user else -1 for phone, user in found.items()}
