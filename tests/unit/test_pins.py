"""PIN rules and PIN hashing (engine/pins.py).

A PIN is the only secret a feature-phone user has, so the rules are strict:
exactly four ASCII digits, no trivially guessable sequences, and a stored
hash that reveals nothing and survives a later change of the KDF cost.
"""

from __future__ import annotations

import base64
import contextlib
import os
import time

import pytest

from engine.identity.pins import check_pin, hash_pin, validate_pin
from engine.kernel.errors import InvalidPinFormat, PinBusy, WeakPin
from ussd_server.kdf_pool import KdfPool, kdf_pool_for_this_machine, usable_cores

PEPPER = b"test-pepper-0123456789"
FAST = 10  # scrypt cost (log2 N) small enough for unit tests


@pytest.fixture(scope="module")
def stored_5173() -> str:
    return hash_pin("5173", pepper=PEPPER, log2_n=FAST)


# --- validate_pin ------------------------------------------------------------


@pytest.mark.parametrize("pin", ["5173", "7391", "1235", "9870", "0912", "5550"])
def test_good_pins_are_accepted_unchanged(pin: str) -> None:
    assert validate_pin(pin) == pin


@pytest.mark.parametrize("pin", ["abcd", "12a4", "12 4", "-123", "12.3", "258#", "*258"])
def test_pins_with_non_digits_are_refused_as_bad_format(pin: str) -> None:
    with pytest.raises(InvalidPinFormat) as excinfo:
        validate_pin(pin)
    assert type(excinfo.value) is InvalidPinFormat, f"{pin!r} should be a format error, not {excinfo.value!r}"
    assert excinfo.value.code == "invalid_pin_format"


@pytest.mark.parametrize("pin", ["", "2", "258", "51731", "51735173"])
def test_pins_of_the_wrong_length_are_refused_as_bad_format(pin: str) -> None:
    with pytest.raises(InvalidPinFormat) as excinfo:
        validate_pin(pin)
    assert type(excinfo.value) is InvalidPinFormat
    assert excinfo.value.code == "invalid_pin_format"


@pytest.mark.parametrize(
    "pin",
    [
        "١٢٣٤",  # Arabic-Indic digits
        "۲۵۸۰",  # Extended Arabic-Indic (Persian) digits
        "２５８０",  # full-width digits
        "²⁵⁸⁰",  # superscripts: str.isdigit() is True for these
        "25８0",  # one full-width digit among ASCII ones
    ],
)
def test_non_ascii_digits_are_refused(pin: str) -> None:
    # str.isdigit() accepts these, but a phone keypad cannot type them and
    # int() would silently map them onto ASCII PINs.
    with pytest.raises(InvalidPinFormat) as excinfo:
        validate_pin(pin)
    assert excinfo.value.code == "invalid_pin_format"


@pytest.mark.parametrize("pin", ["1111", "0000", "9999", "1234", "0123", "6789", "4321", "9876", "3210"])
def test_trivially_guessable_pins_are_refused_as_weak(pin: str) -> None:
    with pytest.raises(WeakPin) as excinfo:
        validate_pin(pin)
    assert excinfo.value.code == "weak_pin"


def test_a_weak_pin_is_also_a_pin_format_error() -> None:
    # Menus that catch InvalidPinFormat must also catch weak PINs.
    with pytest.raises(InvalidPinFormat):
        validate_pin("1234")


# --- hash_pin / check_pin --------------------------------------------------------


def test_the_right_pin_checks_against_its_hash(stored_5173: str) -> None:
    assert check_pin("5173", stored_5173, pepper=PEPPER) is True


@pytest.mark.parametrize("wrong", ["2581", "0852", "258", "51730", ""])
def test_a_wrong_pin_does_not_check(stored_5173: str, wrong: str) -> None:
    assert check_pin(wrong, stored_5173, pepper=PEPPER) is False


def test_the_right_pin_with_the_wrong_pepper_does_not_check(stored_5173: str) -> None:
    assert check_pin("5173", stored_5173, pepper=b"another-pepper-9876543210") is False


def test_two_hashes_of_the_same_pin_differ_but_both_check() -> None:
    first = hash_pin("5173", pepper=PEPPER, log2_n=FAST)
    second = hash_pin("5173", pepper=PEPPER, log2_n=FAST)
    assert first != second, "each hash must use its own random salt"
    assert check_pin("5173", first, pepper=PEPPER)
    assert check_pin("5173", second, pepper=PEPPER)


def test_the_hash_does_not_contain_the_pin_in_clear(stored_5173: str) -> None:
    scheme, log2_n, r, p, salt_b64, key_b64 = stored_5173.split("$")
    # The readable fields are only the scheme and its parameters.
    assert (scheme, log2_n, r, p) == ("scrypt", str(FAST), "8", "1")
    # Salt and key are opaque binary: neither is (or contains) the PIN.
    salt, key = base64.b64decode(salt_b64), base64.b64decode(key_b64)
    assert len(salt) == 16
    assert len(key) == 32
    for blob in (salt, key):
        assert b"5173" not in blob
        assert "5173".encode("utf-16-le") not in blob


def test_a_hash_made_at_one_cost_still_checks_after_the_cost_changes() -> None:
    old = hash_pin("5173", pepper=PEPPER, log2_n=FAST)
    new = hash_pin("5173", pepper=PEPPER, log2_n=FAST + 1)
    assert old.split("$")[1] == str(FAST)
    assert new.split("$")[1] == str(FAST + 1)
    # check_pin takes no cost argument: it must read the cost from the stored hash.
    assert check_pin("5173", old, pepper=PEPPER)
    assert check_pin("5173", new, pepper=PEPPER)
    assert not check_pin("2581", old, pepper=PEPPER)


def _malformed(stored: str) -> dict[str, str]:
    scheme, log2_n, r, p, salt, key = stored.split("$")
    return {
        "empty": "",
        "plain text": "not-a-hash",
        "the pin itself": "5173",
        "other scheme": f"bcrypt${log2_n}${r}${p}${salt}${key}",
        "too few fields": f"{scheme}${log2_n}${salt}${key}",
        "too many fields": f"{stored}$extra",
        "cost not a number": f"{scheme}$x${r}${p}${salt}${key}",
        "block size not a number": f"{scheme}${log2_n}$eight${p}${salt}${key}",
        "cost zero": f"{scheme}$0${r}${p}${salt}${key}",
        "cost negative": f"{scheme}$-1${r}${p}${salt}${key}",
        "cost absurd": f"{scheme}$40${r}${p}${salt}${key}",
        "truncated key": stored[:-10],
        "key not base64": f"{scheme}${log2_n}${r}${p}${salt}$%%%%",
    }


MALFORMED = _malformed(hash_pin("5173", pepper=PEPPER, log2_n=FAST))


@pytest.mark.parametrize("stored", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_stored_hash_fails_the_check_instead_of_raising(stored: str) -> None:
    try:
        result = check_pin("5173", stored, pepper=PEPPER)
    except Exception as exc:
        pytest.fail(f"check_pin raised {type(exc).__name__}: {exc} for malformed stored hash {stored!r}")
    assert result is False, f"malformed stored hash {stored!r} must not verify"


# --- the KDF queue's wait bound ------------------------------------------------------------


async def _learn_kdf_time(queue: KdfPool, seconds: float) -> None:
    """Run one stand-in KDF that takes at least ``seconds``: the queue learns its time from it."""
    await queue.run(lambda: time.sleep(seconds))


async def test_a_check_that_would_wait_past_its_budget_is_refused_without_taking_a_place() -> None:
    queue = KdfPool(workers=1)
    await _learn_kdf_time(queue, 0.2)
    with contextlib.ExitStack() as ahead:
        for _ in range(10):  # ten checks ahead on one thread: at least 2 s of waiting
            ahead.enter_context(queue.admit(None))
        with pytest.raises(PinBusy) as refused, queue.admit(1.0):
            pytest.fail("admitted although ten checks of 0.2 s are ahead of it on one thread")
        assert refused.value.code == "pin_busy"
        assert refused.value.params["wait_ms"] >= 2000
        assert queue.pending == 10, "a refused check holds no place in the queue"
        with queue.admit(None):  # no budget: always admitted
            assert queue.pending == 11
    assert queue.pending == 0
    with queue.admit(1.0):  # the queue drained: admitted again
        assert queue.pending == 1


async def test_a_check_within_its_budget_is_admitted() -> None:
    queue = KdfPool(workers=2)
    await _learn_kdf_time(queue, 0.1)
    with contextlib.ExitStack() as ahead:
        for _ in range(2):  # two ahead, two threads: they start at once
            ahead.enter_context(queue.admit(None))
        with queue.admit(5.0):
            assert queue.pending == 3


async def test_before_any_kdf_has_run_nothing_is_refused() -> None:
    queue = KdfPool(workers=1)
    with contextlib.ExitStack() as ahead:
        for _ in range(100):
            ahead.enter_context(queue.admit(None))
        with queue.admit(0.001):  # no time learnt yet: no grounds to refuse
            assert queue.pending == 101


async def test_a_failing_check_gives_its_place_back() -> None:
    queue = KdfPool(workers=1)
    with pytest.raises(ValueError, match="store failed"), queue.admit(1.0):
        raise ValueError("the store failed while claiming the attempt")
    assert queue.pending == 0


async def test_hash_and_check_run_on_the_queue_and_agree() -> None:
    queue = KdfPool(workers=1)
    with queue.admit(1.0):
        stored = await queue.run(lambda: hash_pin("5173", pepper=PEPPER, log2_n=FAST))
    with queue.admit(1.0):
        assert await queue.run(lambda: check_pin("5173", stored, pepper=PEPPER))
    with queue.admit(1.0):
        assert not await queue.run(lambda: check_pin("2581", stored, pepper=PEPPER))
    assert queue.pending == 0
    assert queue.runs == 3
    queue.close()


def test_the_kdf_threads_follow_the_cores_this_process_may_use() -> None:
    # In a container the host's core count overstates what the process may use.
    assert 1 <= usable_cores() <= (os.cpu_count() or 1)
    pool = kdf_pool_for_this_machine()
    assert pool.workers == max(1, usable_cores() - 1), "one core is always left for the event loop"
