"""The newest input, from Africa's Talking's cumulative ``*``-joined text."""

from __future__ import annotations

import pytest

from ussd_server.gateway import BadRequest, newest_input, parse_callback
from ussd_server.sessions.model import Session, text_digest


def after(previous: str) -> Session:
    """A session whose last hop carried ``previous``."""
    return Session(id="s", phone="+260977123456", last_digest=text_digest(previous), last_len=len(previous))


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
    assert newest_input(text, after(previous)) == newest


def test_text_that_does_not_extend_the_previous_is_a_late_retry() -> None:
    assert newest_input("9*8*7", after("1*2")) is None  # different history
    assert newest_input("1", after("1*2")) is None  # an older hop, arriving late


def test_very_long_text_yields_the_last_input_only() -> None:
    previous = "*".join(["1"] * 500)
    assert newest_input(previous + "*42", after(previous)) == "42"


def test_the_cumulative_text_is_never_kept_only_its_digest() -> None:
    session = after("1*2580")
    assert "2580" not in repr(session.to_wire())


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
