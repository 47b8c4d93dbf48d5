"""Gateway retries: a repeated or late hop is answered, never run twice.

Africa's Talking may send the same hop again (same sessionId, same text) when
our reply was slow or lost, and a retry can arrive late, after the user has
already moved on. Money must move once, the ledger must hold one operation,
and one SMS must be queued, whatever the gateway repeats.
"""

from __future__ import annotations

import asyncio

from engine.identity.model import User
from engine.kernel.units import cost_of_energy
from engine.ledger.model import TransferCode
from tests.e2e.conftest import World
from tests.support.flat_prices import flat_price
from tests.support.gateway import Phone, check_reply, option, reference_in
from ussd_server.demo import DEMO_PIN

CLUSTER_ID, CLUSTER_NAME, PRICE = "lsk-kabulonga-micro", "Kabulonga Micro-Grid", 115
WH = 1500
COST = cost_of_energy(WH, PRICE)


async def _on_pin_screen(world: World) -> tuple[User, Phone]:
    user = await world.new_user("en", "Replay Tester")
    await flat_price(world.platform, CLUSTER_ID)  # its listed K1.15 at every hour: the cost is exact
    phone = world.phone(user.phone)
    await phone.dial()
    await phone.send(option(phone.last, "Buy energy"))
    await phone.send(option(phone.last, "Lusaka"))
    await phone.send(option(phone.last, CLUSTER_NAME))
    reply = await phone.send("1.5")
    assert reply.startswith(f"CON Buy 1.5 kWh from {CLUSTER_NAME}"), reply
    return user, phone


async def _assert_bought_once(world: World, user: User, pool_before: int, ref: str | None = None) -> None:
    b = await world.platform.wallet.balances(user)
    assert (b.ngwee, b.wh) == (500 - COST, WH), f"the purchase must apply exactly once: {b}"
    pool = await world.platform.clusters.get(CLUSTER_ID)
    assert pool.available_wh == pool_before - WH, "the cluster pool must be debited exactly once"
    history = await world.platform.wallet.history(user, limit=50)
    payments = [e for e in history.entries if e.code == TransferCode.CLUSTER_PAYMENT]
    energy = [e for e in history.entries if e.code == TransferCode.CLUSTER_ENERGY]
    assert (len(payments), len(energy)) == (1, 1), f"one ledger operation expected, got {history.entries}"
    rows = [
        r
        for r in await world.platform.store.outbox.list_outbox(recipient=user.phone, limit=100)
        if r.message.template == "sms.cluster_purchase"
    ]
    assert len(rows) == 1, f"one purchase SMS expected, got {len(rows)}"
    if ref is not None:
        assert rows[0].message.params["ref"] == ref
    assert (await world.platform.verify_ledger()).ok


async def test_the_same_hop_twice_returns_the_same_reply_and_buys_once(world: World) -> None:
    pool_before = (await world.platform.clusters.get(CLUSTER_ID)).available_wh
    user, phone = await _on_pin_screen(world)
    pin_screen = phone.last
    assert await phone.resend() == pin_screen, "a retried quote hop must show the same screen"

    wrong = await phone.send("9173")
    assert wrong.startswith("CON Wrong PIN. 2 tries left."), wrong
    assert await phone.resend() == wrong, "a retried wrong-PIN hop must show the same screen"
    assert (await world.user(user.phone)).pin_failures == 1, "a retried wrong-PIN hop was checked twice"

    receipt = await phone.send(DEMO_PIN)
    assert receipt.startswith("END Done!"), receipt
    again = await phone.resend()

    assert again == receipt, "a retried confirming hop must return the stored receipt"
    await _assert_bought_once(world, user, pool_before, reference_in(receipt))


async def test_the_confirming_hop_five_times_at_once_buys_once(world: World) -> None:
    pool_before = (await world.platform.clusters.get(CLUSTER_ID)).available_wh
    user, phone = await _on_pin_screen(world)
    text = phone.text + "*" + DEMO_PIN

    replies = await asyncio.gather(*(phone.raw(text) for _ in range(5)))

    bodies = [check_reply(r, "concurrent confirm") for r in replies]
    assert len(set(bodies)) == 1, f"all five replies must be identical: {bodies}"
    assert bodies[0].startswith("END Done!"), bodies[0]
    await _assert_bought_once(world, user, pool_before, reference_in(bodies[0]))


async def test_a_wrong_pin_hop_five_times_at_once_counts_one_failure(world: World) -> None:
    user, phone = await _on_pin_screen(world)
    text = phone.text + "*9173"

    replies = await asyncio.gather(*(phone.raw(text) for _ in range(5)))

    bodies = [check_reply(r, "concurrent wrong PIN") for r in replies]
    assert len(set(bodies)) == 1, f"all five replies must be identical: {bodies}"
    assert bodies[0].startswith("CON Wrong PIN. 2 tries left."), bodies[0]
    stored = await world.user(user.phone)
    assert (stored.pin_failures, stored.pin_locked_until) == (1, 0), f"one wrong PIN typed once: {stored}"


async def test_five_simultaneous_first_hops_make_one_session(world: World) -> None:
    user = await world.new_user("en", "Replay Tester")
    phone = world.phone(user.phone)
    phone.session_id = "ATUid_" + "5" * 8 + phone.number[1:]
    replies = await asyncio.gather(*(phone.raw("") for _ in range(5)))
    bodies = [check_reply(r, "concurrent dial") for r in replies]
    assert len(set(bodies)) == 1, bodies
    assert bodies[0].startswith("CON Enerlectra - Replay"), bodies


async def test_late_retries_after_the_purchase_are_not_run_again(world: World) -> None:
    pool_before = (await world.platform.clusters.get(CLUSTER_ID)).available_wh
    user, phone = await _on_pin_screen(world)
    quote_text = phone.text
    wrong = await phone.send("9173")
    assert wrong.startswith("CON Wrong PIN. 2 tries left."), wrong
    wrong_text = phone.text
    receipt = await phone.send(DEMO_PIN)
    pin_text = phone.text
    assert receipt.startswith("END Done!"), receipt

    # The gateway now delivers stale copies of earlier hops, in any order.
    for text in (quote_text, wrong_text, pin_text, wrong_text, quote_text, pin_text):
        await phone.post_text(text)

    await _assert_bought_once(world, user, pool_before, reference_in(receipt))
    stored = await world.user(user.phone)
    assert (stored.pin_failures, stored.pin_locked_until) == (0, 0), (
        f"a late retry of the wrong-PIN hop was run again and counted a PIN failure: {stored}"
    )


async def test_a_late_retry_mid_journey_does_not_derail_the_next_hop(world: World) -> None:
    pool_before = (await world.platform.clusters.get(CLUSTER_ID)).available_wh
    user, phone = await _on_pin_screen(world)
    pick_text = phone.text.rsplit("*", 1)[0]  # the hop that picked the cluster, already answered
    pin_screen = phone.last

    stale = await phone.post_text(pick_text)  # the gateway's late retry of that hop
    receipt = await phone.send(DEMO_PIN)  # then the user's real PIN hop

    assert receipt.startswith("END Done!"), (
        f"a late retry of the cluster-pick hop (text {pick_text!r}) arrived while the user was on the PIN "
        f"screen; it was taken as new input ({stale!r}) and the user's real PIN hop then failed: {receipt!r}"
    )
    assert stale == pin_screen, f"a late retry is answered with the screen the user is on: {stale!r}"
    await _assert_bought_once(world, user, pool_before, reference_in(receipt))


async def test_a_late_retry_while_changing_pin_does_not_derail_it(world: World) -> None:
    user = await world.new_user("en", "Replay Tester")
    phone = world.phone(user.phone)
    await phone.dial()
    await phone.send(option(phone.last, "My account"))
    await phone.send(option(phone.last, "Change PIN"))
    new_pin_text = phone.text + "*4826"
    await phone.send("4826")
    again_text = phone.text + "*4826"
    current = await phone.send("4826")
    assert current == "CON Enter your current PIN to confirm:\n0 Back 00 Home", current

    # Late retries of the two new-PIN hops: answered with the screen the user is on, run again never.
    for text in (new_pin_text, again_text):
        assert await phone.post_text(text) == current
    assert (await world.user(user.phone)).pin_failures == 0, "a late new-PIN hop was checked as the current PIN"
    done = await phone.send(DEMO_PIN)

    assert done == "END Your PIN is changed.", (
        f"a late retry of a new-PIN hop was taken as the current PIN; the user's real confirmation then got {done!r}"
    )
    await world.platform.users.verify_pin(user, "4826")
