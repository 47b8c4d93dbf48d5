"""Request-derived values in logs (ussd_server/logfields.py): one record stays one line."""

from __future__ import annotations

import pytest

from ussd_server.logfields import log_phone, logfield


@pytest.mark.parametrize(
    ("raw", "logged"),
    [
        ("ATUid_0d5e1c7d", "ATUid_0d5e1c7d"),
        ("s1\n2026-12-01 INFO forged", "s1\\n2026-12-01 INFO forged"),
        ("a\rb\tc", "a\\rb\\tc"),
        ("bell\x07esc\x1b[2J", "bell\\x07esc\\x1b[2J"),
        ("line\u2028sep", "line\\u2028sep"),
        ("bidi\u202eevil", "bidi\\u202eevil"),
        ("back\\slash", "back\\\\slash"),
        ("Chíleshe ŋ ☀", "Chíleshe ŋ ☀"),
    ],
)
def test_control_characters_and_backslashes_are_escaped_like_repr(raw: str, logged: str) -> None:
    assert logfield(raw) == logged
    assert len(logfield(raw).splitlines()) <= 1


def test_an_escape_typed_by_the_caller_cannot_pass_for_ours() -> None:
    assert logfield("a\\nb") != logfield("a\nb")


def test_long_values_are_capped_and_say_so() -> None:
    logged = logfield("x" * 5000, 40)
    assert logged.startswith("x" * 40)
    assert logged.endswith("...(+4960 chars)")
    assert len(logfield("\n" * 5000, 40)) < 200


@pytest.mark.parametrize(
    ("raw", "logged"),
    [
        ("+260977123456", "+26097*****56"),
        ("0977 123 456", "+26097*****56"),  # normalised first, so one caller looks the same however written
        ("260977123456", "+26097*****56"),
        ("+1\n2026 INFO x", "+1\\n202****** x"),
        ("", ""),
    ],
)
def test_phones_are_normalised_masked_and_escaped(raw: str, logged: str) -> None:
    assert log_phone(raw) == logged
