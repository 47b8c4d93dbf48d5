"""Users on both backends: registration, starting credit, PINs and lockout, preferences."""

from __future__ import annotations

import pytest

from engine import errors
from engine.accounts import PROMOTIONS
from engine.clock import ManualClock
from engine.model import Language
from engine.platform import Platform

PHONE = "+260977123456"


async def test_registration_opens_wallets_with_starting_credit_from_promotions(platform: Platform) -> None:
    user = await platform.users.register(phone=PHONE, name="  Mwila   Banda ", language="bem", pin="2580")
    assert user.phone == PHONE
    assert user.name == "Mwila Banda"
    assert user.language is Language.BEMBA
    balances = await platform.wallet.balances(user)
    assert (balances.ngwee, balances.wh) == (platform.config.starting_credit_ngwee, 0)
    promotions = (await platform.store.lookup_accounts([PROMOTIONS]))[PROMOTIONS]
    assert promotions.debits_posted == platform.config.starting_credit_ngwee
    welcome = await platform.store.list_outbox(recipient=PHONE)
    assert [row.message.template for row in welcome] == ["sms.welcome"]


async def test_pin_is_never_stored_in_clear(platform: Platform) -> None:
    user = await platform.users.register(phone=PHONE, name="Mwila", language="en", pin="2580")
    assert "2580" not in user.pin_hash
    assert "2580" not in repr(user)
    assert user.pin_hash.startswith("scrypt$")


async def test_second_registration_of_a_number_is_refused_without_side_effects(platform: Platform) -> None:
    await platform.users.register(phone=PHONE, name="Mwila", language="en", pin="2580")
    head = await platform.store.chain_head()
    with pytest.raises(errors.AlreadyRegistered):
        await platform.users.register(phone=PHONE, name="Someone Else", language="ny", pin="1357")
    assert await platform.store.count_users() == 1
    assert await platform.store.chain_head() == head


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
    ],
)
async def test_bad_registration_input_is_refused_and_writes_nothing(
    platform: Platform, field: str, value: str, error: type[Exception]
) -> None:
    details = {"phone": PHONE, "name": "Mwila", "language": "en", "pin": "2580", field: value}
    with pytest.raises(error):
        await platform.users.register(**details)  # type: ignore[arg-type]
    assert await platform.store.count_users() == 0


async def test_wrong_pins_count_down_then_lock_for_thirty_minutes(platform: Platform, clock: ManualClock) -> None:
    user = await platform.users.register(phone=PHONE, name="Mwila", language="en", pin="2580")
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
        await platform.users.verify_pin(user, "2580")
    clock.advance(29 * 60)
    with pytest.raises(errors.PinLocked):
        await platform.users.verify_pin(user, "2580")
    clock.advance(61)
    assert (await platform.users.verify_pin(user, "2580")).id == user.id


async def test_lockout_survives_a_reopened_store(platform: Platform, open_test_store: object) -> None:
    user = await platform.users.register(phone=PHONE, name="Mwila", language="en", pin="2580")
    for _ in range(3):
        with pytest.raises((errors.WrongPin, errors.PinLocked)):
            await platform.users.verify_pin(user, "0007")
    reopened = Platform(await open_test_store(), platform.config, platform.clock)  # type: ignore[operator]
    with pytest.raises(errors.PinLocked):
        await reopened.users.verify_pin(user, "2580")


async def test_a_right_pin_resets_the_failure_count(platform: Platform) -> None:
    user = await platform.users.register(phone=PHONE, name="Mwila", language="en", pin="2580")
    for _ in range(2):
        with pytest.raises(errors.WrongPin):
            await platform.users.verify_pin(user, "1357")
    await platform.users.verify_pin(user, "2580")
    with pytest.raises(errors.WrongPin) as again:
        await platform.users.verify_pin(user, "1357")
    assert again.value.params["attempts_left"] == 2


async def test_change_pin_needs_the_old_pin(platform: Platform) -> None:
    user = await platform.users.register(phone=PHONE, name="Mwila", language="en", pin="2580")
    with pytest.raises(errors.WrongPin):
        await platform.users.change_pin(user, old_pin="1357", new_pin="8642")
    await platform.users.change_pin(user, old_pin="2580", new_pin="8642")
    with pytest.raises(errors.WrongPin):
        await platform.users.verify_pin(user, "2580")
    await platform.users.verify_pin(user, "8642")


async def test_language_and_name_changes_persist(platform: Platform) -> None:
    user = await platform.users.register(phone=PHONE, name="Mwila", language="en", pin="2580")
    await platform.users.change_language(user, "ny")
    await platform.users.rename(user, "Mwila K. Banda")
    stored = await platform.users.get(PHONE)
    assert (stored.language, stored.name) == (Language.NYANJA, "Mwila K. Banda")
    with pytest.raises(errors.UnsupportedLanguage):
        await platform.users.change_language(user, "sw")


async def test_admin_listing_and_counts(platform: Platform) -> None:
    for i, lang in enumerate(["en", "ny", "ny", "bem"]):
        await platform.users.register(phone=f"+26097712345{i}", name=f"User {chr(65 + i)}", language=lang, pin="2580")
    listed = await platform.users.list(limit=2, offset=1)
    assert [u.phone for u in listed] == ["+260977123451", "+260977123452"]
    assert await platform.users.counts() == {"total": 4, "en": 1, "ny": 2, "bem": 1}


async def test_unknown_number_lookup(platform: Platform) -> None:
    assert await platform.users.find(PHONE) is None
    with pytest.raises(errors.UserNotFound):
        await platform.users.get(PHONE)
