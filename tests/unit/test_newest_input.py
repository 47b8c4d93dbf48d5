"""The newest input, from Africa's Talking's cumulative ``*``-joined text."""

from __future__ import annotations

import hashlib

import pytest

from ussd_server.gateway import BadRequest, newest_input, parse_callback
from ussd_server.sessions.model import Session, TextDigest

DIGEST = TextDigest(b"unit-test-pepper-0123456789")


def after(previous: str) -> Session:
    """A session whose last hop carried ``previous``."""
    return Session(id="s", phone="+260977123456", last_digest=DIGEST(previous), last_len=len(previous))


@pytest.mark.parametrize(
    ("previous", "text", "newest"),
    [
        ("", "1", "1"),
        ("1", "1*2", "2"),
        ("1*2", "1*2*0977123456", "0977123456"),
        ("1", "1*", ""),  # an empty input leaves a trailing *
        ("1*", "1**", ""),  # ...and another leaves **
        ("1**", "1***3", "3"),
        ("1", "1*2.5", "2.5"),
        ("1", "1*a*b", "a*b"),  # a * the user typed stays part of the input
        ("", "a*b", "a*b"),
        ("2", "2*mwila¡zesco", "mwila@zesco"),  # some gateways send ¡ for @
        ("1", "1*  7 ", "7"),
    ],
)
def test_newest_input(previous: str, text: str, newest: str) -> None:
    assert newest_input(text, after(previous), DIGEST) == newest


def test_text_that_does_not_extend_the_previous_is_a_late_retry() -> None:
    assert newest_input("9*8*7", after("1*2"), DIGEST) is None  # different history
    assert newest_input("1", after("1*2"), DIGEST) is None  # an older hop, arriving late


def test_very_long_text_yields_the_last_input_only() -> None:
    previous = "*".join(["1"] * 500)
    assert newest_input(previous + "*42", after(previous), DIGEST) == "42"


def test_the_cumulative_text_is_never_kept_only_its_digest() -> None:
    session = after("1*5173")
    assert "5173" not in repr(session.to_wire())


def test_every_pin_tried_against_a_stored_digest_finds_nothing_without_the_server_secret() -> None:
    """Someone who reads Redis knows everything in the text but the PIN: 10,000 guesses must not find it."""
    text = "3*0977123456*1.5*1.20*5173"  # sell: number, kWh, price, then the PIN
    stored = after(text).last_digest
    found = []
    for n in range(10_000):
        guess = text[:-4] + f"{n:04d}"
        data = guess.encode()
        unkeyed = hashlib.blake2b(data, digest_size=12).hexdigest()  # the digest as it used to be kept
        other_key = TextDigest(b"a-pepper-guessed-by-the-attacker")(guess)
        if stored in (unkeyed, other_key):
            found.append(guess[-4:])
    assert found == [], f"PINs recovered from the stored digest: {found}"
    assert DIGEST(text) == stored, "the server itself still recognises the same text (replays are detected)"


def test_the_digest_key_is_its_own_not_the_pepper_itself() -> None:
    pepper = b"unit-test-pepper-0123456789"
    text = "1*2*5173"
    plain_keyed = hashlib.blake2b(text.encode(), key=pepper, digest_size=12).hexdigest()
    assert TextDigest(pepper)(text) != plain_keyed


def test_callback_fields_are_checked() -> None:
    good = {"sessionId": "ATUid_1", "serviceCode": "*384*2025#", "phoneNumber": "+260977123456", "text": ""}
    assert parse_callback(good).session_id == "ATUid_1"
    for field in ("sessionId", "serviceCode", "phoneNumber", "text"):
        with pytest.raises(BadRequest, match=field):
            parse_callback({k: v for k, v in good.items() if k != field})
    with pytest.raises(BadRequest):
        parse_callback({**good, "sessionId": "x" * 201})
    with pytest.raises(BadRequest):
        parse_callback({**good, "text": "1*" * 5000})
