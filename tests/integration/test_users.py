"""Users on both backends: registration, starting credit, PINs and lockout, preferences."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.identity.model import PinProof
from engine.identity.pin_state import PIN_PROOF_TTL_S
from engine.kernel import errors
from engine.kernel.clock import ManualClock
from engine.kernel.language import Language
from engine.ledger.accounts import PROMOTIONS
from engine.notifications.model import OutboxStatus
from engine.platform import Platform
from engine.uow import Database as Store
from tests.conftest import TEST_CONFIG, TEST_HASHER, StoreOpener

PHONE = "+260977123456"


async def test_registration_opens_wallets_with_starting_credit_from_promotions(platform: Platform) -> None:
    user = await platform.users.register(phone=PHONE, name="  Mwila   Banda ", language="bem", pin="5173")
    assert user.phone == PHONE
    assert user.name == "Mwila Banda"
    assert user.language is Language.BEMBA
    balances = await platform.wallet.balances(user)
    assert (balances.ngwee, balances.wh) == (platform.config.starting_credit_ngwee, 0)
    promotions = (await platform.store.ledger.lookup_accounts([PROMOTIONS]))[PROMOTIONS]
    assert promotions.debits_posted == platform.config.starting_credit_ngwee
    welcome = await platform.store.outbox.list_outbox(recipient=PHONE)
    assert [row.message.template for row in welcome] == ["sms.welcome"]


async def test_pin_is_never_stored_in_clear(platform: Platform) -> None:
    user = await platform.users.register(phone=PHONE, name="Mwila", language="en", pin="5173")
    assert "5173" not in user.pin_hash
    assert "5173" not in repr(user)
    assert user.pin_hash.startswith("scrypt$")


async def test_second_registration_of_a_number_is_refused_without_side_effects(platform: Platform) -> None:
    await platform.users.register(phone=PHONE, name="Mwila", language="en", pin="5173")
    head = await platform.store.ledger.chain_head()
    with pytest.raises(errors.AlreadyRegistered):
        await platform.users.register(phone=PHONE, name="Someone Else", language="ny", pin="4826")
    assert await platform.store.users.count_users() == 1
    assert await platform.store.ledger.chain_head() == head


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("phone", "0977123456", errors.InvalidPhoneNumber),  # entry points normalise; engine wants E.164
        ("phone", "+260211123456", errors.InvalidPhoneNumber),
        ("name", "", errors.InvalidName),
        ("name", "Robert'); DROP TABLE users;--", errors.InvalidName),
        ("name", "x" * 41, errors.InvalidName),
        ("language", "fr", errors.UnsupportedLanguage),
        ("pin", "12a4", errors.InvalidPinFormat),
        ("pin", "1111", errors.WeakPin),
        ("pin", "1990", errors.WeakPin),  # a year
        ("pin", "2580", errors.WeakPin),  # the keypad's middle column
        ("pin", "1212", errors.WeakPin),  # a repeated pair
    ],
)
async def test_bad_registration_input_is_refused_and_writes_nothing(
    platform: Platform, field: str, value: str, error: type[Exception]
) -> None:
    details = {"phone": PHONE, "name": "Mwila", "language": "en", "pin": "5173", field: value}
    with pytest.raises(error):
        await platform.users.register(**details)
    assert await platform.store.users.count_users() == 0


async def test_wrong_pins_count_down_then_lock_for_thirty_minutes(platform: Platform, clock: ManualClock) -> None:
    user = await platform.users.register(phone=PHONE, name="Mwila", language="en", pin="5173")
    with pytest.raises(errors.WrongPin) as first:
        await platform.users.verify_pin(user, "1357")
    assert first.value.params["attempts_left"] == 2
    with pytest.raises(errors.WrongPin) as second:
        await platform.users.verify_pin(user, "1357")
    assert second.value.params["attempts_left"] == 1
    with pytest.raises(errors.PinLocked):
        await platform.users.verify_pin(user, "1357")
    # Locked: even the right PIN is refused until the lock passes.
    with pytest.raises(errors.PinLocked):
        await platform.users.verify_pin(user, "5173")
    clock.advance(29 * 60)
    with pytest.raises(errors.PinLocked):
        await platform.users.verify_pin(user, "5173")
    clock.advance(61)
    assert (await platform.users.verify_pin(user, "5173")).user_id == user.id


async def test_lockout_survives_a_reopened_store(platform: Platform, open_test_store: StoreOpener) -> None:
    user = await platform.users.register(phone=PHONE, name="Mwila", language="en", pin="5173")
    for _ in range(3):
        with pytest.raises((errors.WrongPin, errors.PinLocked)):
            await platform.users.verify_pin(user, "0007")
    reopened = Platform(await open_test_store(), platform.config, TEST_HASHER, platform.clock)
    with pytest.raises(errors.PinLocked):
        await reopened.users.verify_pin(user, "5173")


async def test_a_right_pin_resets_the_failure_count(platform: Platform) -> None:
    user = await platform.users.register(phone=PHONE, name="Mwila", language="en", pin="5173")
    for _ in range(2):
        with pytest.raises(errors.WrongPin):
            await platform.users.verify_pin(user, "1357")
    await platform.users.verify_pin(user, "5173")
    with pytest.raises(errors.WrongPin) as again:
        await platform.users.verify_pin(user, "1357")
    assert again.value.params["attempts_left"] == 2


async def test_change_pin_needs_proof_of_the_current_pin(platform: Platform) -> None:
    user = await platform.users.register(phone=PHONE, name="Mwila", language="en", pin="5173")
    with pytest.raises(errors.WrongPin):
        await platform.users.verify_pin(user, "4826")
    proof = await platform.users.verify_pin(user, "5173")
    await platform.users.change_pin(proof, new_pin="8461")
    with pytest.raises(errors.WrongPin):
        await platform.users.verify_pin(user, "5173")
    await platform.users.verify_pin(user, "8461")
    changed = [
        r for r in await platform.store.outbox.list_outbox(recipient=PHONE) if r.message.template == "sms.pin_changed"
    ]
    assert len(changed) == 1, "the owner is told by SMS of every PIN change"


async def test_a_pin_change_without_a_fresh_genuine_proof_changes_nothing(
    platform: Platform, clock: ManualClock
) -> None:
    user = await platform.users.register(phone=PHONE, name="Mwila", language="en", pin="5173")
    other = await platform.users.register(phone="+260966234567", name="Chipo", language="ny", pin="5173")
    forged = PinProof(user.id, clock.now_us(), b"\0" * 32)  # made by someone, not by verify_pin
    stale = await platform.users.verify_pin(user, "5173")
    clock.advance(PIN_PROOF_TTL_S + 1)  # older than a hop may take: e.g. kept in a session and resumed
    from_elsewhere = await Platform(platform.store, platform.config, TEST_HASHER, clock).users.verify_pin(other, "5173")
    for proof in (forged, stale, from_elsewhere):
        with pytest.raises(errors.PinNotVerified):
            await platform.users.change_pin(proof, new_pin="8461")
    await platform.users.verify_pin(user, "5173")  # the PIN is unchanged
    await platform.users.verify_pin(other, "5173")


async def test_locks_escalate_30_minutes_then_24_hours_then_until_reset(platform: Platform, clock: ManualClock) -> None:
    user = await platform.users.register(phone=PHONE, name="Mwila", language="en", pin="5173")
    locks = []
    for stage_s in (30 * 60, 24 * 3600, None):
        for _ in range(2):
            with pytest.raises(errors.WrongPin):
                await platform.users.verify_pin(user, "4826")
        with pytest.raises(errors.PinLocked) as locked:
            await platform.users.verify_pin(user, "4826")
        locks.append(locked.value.params)
        until = locked.value.params["until_us"]
        if stage_s is not None:
            assert until == clock.now_us() + stage_s * 1_000_000
            clock.advance(stage_s - 1)
            with pytest.raises(errors.PinLocked):
                await platform.users.verify_pin(user, "5173")
            clock.advance(1)
    assert [lock["until_reset"] for lock in locks] == [False, False, True]
    clock.advance(365 * 24 * 3600)  # a year later: still locked, the right PIN too
    with pytest.raises(errors.PinLocked):
        await platform.users.verify_pin(user, "5173")
    stored = await platform.users.get(PHONE)
    assert stored.pin_failures_total == 9, "every wrong PIN is counted for operators"
    sms = [
        r for r in await platform.store.outbox.list_outbox(recipient=PHONE) if r.message.template == "sms.pin_locked"
    ]
    assert len(sms) == 3, "the owner gets an SMS on every lock"
    assert {r.status for r in sms} != {OutboxStatus.FOLDED}


async def test_a_right_pin_between_locks_starts_the_stages_again(platform: Platform, clock: ManualClock) -> None:
    user = await platform.users.register(phone=PHONE, name="Mwila", language="en", pin="5173")
    for _ in range(3):
        with pytest.raises((errors.WrongPin, errors.PinLocked)):
            await platform.users.verify_pin(user, "4826")
    clock.advance(30 * 60)
    await platform.users.verify_pin(user, "5173")
    for _ in range(2):
        with pytest.raises(errors.WrongPin):
            await platform.users.verify_pin(user, "4826")
    with pytest.raises(errors.PinLocked) as locked:
        await platform.users.verify_pin(user, "4826")
    assert locked.value.params["until_us"] == clock.now_us() + 30 * 60 * 1_000_000


async def test_an_operator_reset_sends_a_one_time_pin_that_must_be_changed_and_holds_outflows(
    platform: Platform, clock: ManualClock
) -> None:
    user = await platform.users.register(phone=PHONE, name="Mwila", language="en", pin="5173")
    friend = await platform.users.register(phone="+260966234567", name="Chipo", language="ny", pin="5173")
    await platform.clusters.create(
        cluster_id="lsk-test",
        name="Test Solar",
        kind="micro",
        region="Lusaka",
        capacity_wh=50_000,
        price_ngwee_per_kwh=120,
    )
    await platform.clusters.buy(buyer=user, cluster_id="lsk-test", wh=2000, operation_id="t:buy")
    for _ in range(9):  # locked until reset
        with pytest.raises((errors.WrongPin, errors.PinLocked)):
            await platform.users.verify_pin(user, "4826")
    reset = await platform.users.reset_pin(user)
    assert reset.pin_must_change
    assert not reset.locked_at(clock.now_us())
    [sms] = [
        r for r in await platform.store.outbox.list_outbox(recipient=PHONE) if r.message.template == "sms.pin_reset"
    ]
    one_time = str(sms.message.params["pin"])
    with pytest.raises(errors.WrongPin):
        await platform.users.verify_pin(reset, "5173")  # the old PIN is gone
    proof = await platform.users.verify_pin(reset, one_time)
    changed = await platform.users.change_pin(proof, new_pin="8461")
    assert not changed.pin_must_change
    # For 24 hours nothing leaves the wallet: no gift, no offer, no paying for an offer.
    with pytest.raises(errors.OutflowHeld):
        await platform.trading.trade(seller=changed, buyer_phone=friend.phone, wh=500, price_ngwee_per_kwh=0)
    with pytest.raises(errors.OutflowHeld):
        await platform.offers.offer(seller=changed, buyer_phone=friend.phone, wh=500, price_ngwee_per_kwh=120)
    await platform.clusters.buy(buyer=friend, cluster_id="lsk-test", wh=1000, operation_id="t:friend")
    offer = await platform.offers.offer(seller=friend, buyer_phone=PHONE, wh=500, price_ngwee_per_kwh=120)
    with pytest.raises(errors.OutflowHeld):
        await platform.offers.accept(buyer=changed, offer_id=offer.id)
    # Buying energy for oneself keeps the value in the wallet: allowed.
    await platform.clusters.buy(buyer=changed, cluster_id="lsk-test", wh=500, operation_id="t:buy2")
    clock.advance(24 * 3600)
    await platform.trading.trade(seller=changed, buyer_phone=friend.phone, wh=500, price_ngwee_per_kwh=0)
    assert (await platform.wallet.balances(await platform.users.get(friend.phone))).wh == 500 + 500  # gift + kept


async def test_looking_up_a_number_shows_a_short_name_and_is_capped_per_day(
    platform: Platform, clock: ManualClock
) -> None:
    viewer = await platform.users.register(phone=PHONE, name="Mwila Banda", language="en", pin="5173")
    await platform.users.register(phone="+260966234567", name="Chipo Grace Phiri", language="ny", pin="5173")
    seen = await platform.users.look_up(viewer, "+260966234567")
    assert seen.short_name == "Chipo P."
    for _ in range(platform.config.lookups_per_day - 2):
        with pytest.raises(errors.CounterpartyNotFound):  # unknown numbers count too: no free probing
            await platform.users.look_up(viewer, "+260955000001")
    await platform.users.look_up(viewer, "+260966234567")
    with pytest.raises(errors.DailyLimitReached):
        await platform.users.look_up(viewer, "+260966234567")
    clock.advance(24 * 3600)
    assert (await platform.users.look_up(viewer, "+260966234567")).short_name == "Chipo P."


async def test_language_and_name_changes_persist(platform: Platform) -> None:
    user = await platform.users.register(phone=PHONE, name="Mwila", language="en", pin="5173")
    await platform.users.change_language(user, "ny")
    await platform.users.rename(user, "Mwila K. Banda")
    stored = await platform.users.get(PHONE)
    assert (stored.language, stored.name) == (Language.NYANJA, "Mwila K. Banda")
    with pytest.raises(errors.UnsupportedLanguage):
        await platform.users.change_language(user, "sw")


async def test_admin_listing_and_counts(platform: Platform) -> None:
    for i, lang in enumerate(["en", "ny", "ny", "bem"]):
        await platform.users.register(phone=f"+26097712345{i}", name=f"User {chr(65 + i)}", language=lang, pin="5173")
    listed = await platform.users.list(limit=2, offset=1)
    assert [u.phone for u in listed] == ["+260977123451", "+260977123452"]
    assert await platform.users.counts() == {"total": 4, "en": 1, "ny": 2, "bem": 1}


async def test_unknown_number_lookup(platform: Platform) -> None:
    assert await platform.users.find(PHONE) is None
    with pytest.raises(errors.UserNotFound):
        await platform.users.get(PHONE)


async def test_starting_credit_comes_from_a_daily_budget(store: Store, clock: ManualClock) -> None:
    """Registering many numbers is no way to collect money: past the day's budget, new users get none."""
    platform = Platform(store, replace(TEST_CONFIG, starting_credits_per_day=2), TEST_HASHER, clock)
    await platform.bootstrap()
    phones = ["+260977000011", "+260977000012", "+260977000013"]
    users = [await platform.users.register(phone=p, name="New Person", language="en", pin="4826") for p in phones]
    got = [(await platform.wallet.balances(u)).ngwee for u in users]
    assert got == [500, 500, 0]
    [welcome] = await platform.store.outbox.list_outbox(recipient=phones[2])
    assert welcome.message.params["credit"] == 0, "the welcome SMS promises nothing it did not give"
    clock.advance(24 * 3600)
    fourth = await platform.users.register(phone="+260977000014", name="New Person", language="en", pin="4826")
    assert (await platform.wallet.balances(fourth)).ngwee == 500
