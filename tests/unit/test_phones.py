"""Zambian mobile numbers: parsing what people type (ussd_server/phones.py)
and the engine's E.164 guard, masking and local display (engine/phones.py)."""

from __future__ import annotations

import pytest

from engine.kernel.errors import InvalidPhoneNumber
from engine.kernel.phones import local_format, mask_phone, require_zambian_mobile
from ussd_server.phones import parse_zambian_mobile

# 95/75 Zamtel, 96/76 MTN, 97/77 Airtel, 98/78 Beeline; phonenumbers also
# treats 79 as a valid Zambian mobile range and the engine's pattern allows it.
OPERATOR_PREFIXES = ["95", "96", "97", "98", "75", "76", "77", "78", "79"]

WAYS_TO_WRITE = [
    "0{p}7123456",
    "260{p}7123456",
    "+260{p}7123456",
    "+260 {p} 712 3456",
    "0{p}-712-3456",
    "0{p}7 123 456",
    " 0{p}7123456 ",
]


@pytest.mark.parametrize("prefix", OPERATOR_PREFIXES)
@pytest.mark.parametrize("template", WAYS_TO_WRITE)
def test_every_common_way_of_writing_a_mobile_gives_e164(prefix: str, template: str) -> None:
    typed = template.format(p=prefix)
    assert parse_zambian_mobile(typed) == f"+260{prefix}7123456"


@pytest.mark.parametrize(
    "typed",
    [
        "0211123456",  # Lusaka landline
        "+260211123456",
        "0212123456",  # Ndola landline
        "+254712345678",  # Kenyan mobile
        "+27821234567",  # South African mobile
        "+14155552671",  # US number
        "0947123456",  # unallocated Zambian range
        "0997123456",
        "097712345",  # one digit short
        "09771234567",  # one digit long
        "+260977123456789",
        "0977",
        "abc",
        "",
        "   ",
    ],
)
def test_non_mobile_foreign_malformed_or_empty_numbers_are_refused(typed: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as excinfo:
        parse_zambian_mobile(typed)
    assert excinfo.value.code == "invalid_phone"


@pytest.mark.parametrize("typed", ["0977ABC456", "0977-MWILA1", "+260 97 ABC DEFG"])
def test_letters_in_a_number_are_refused_not_mapped_to_keypad_digits(typed: str) -> None:
    # phonenumbers reads letters as phone-keypad digits (ABC -> 222), so a
    # mistyped number would silently become someone else's number.
    try:
        parsed = parse_zambian_mobile(typed)
    except InvalidPhoneNumber:
        return
    pytest.fail(f"parse_zambian_mobile({typed!r}) accepted letters and returned {parsed!r}")


# --- engine/phones.py ---------------------------------------------------------


@pytest.mark.parametrize("phone", [f"+260{p}7123456" for p in OPERATOR_PREFIXES])
def test_engine_accepts_e164_zambian_mobiles(phone: str) -> None:
    assert require_zambian_mobile(phone) == phone


@pytest.mark.parametrize(
    "phone",
    [
        "0977123456",  # local form: parsing is the entry points' job
        "260977123456",  # no plus
        "+260 977 123 456",  # spaces
        "+260211123456",  # landline
        "+260947123456",  # not an operator prefix
        "+26097712345",  # short
        "+2609771234567",  # long
        "+254712345678",  # Kenya
        "",
    ],
)
def test_engine_refuses_anything_but_e164_zambian_mobiles(phone: str) -> None:
    with pytest.raises(InvalidPhoneNumber):
        require_zambian_mobile(phone)


def test_engine_refuses_a_number_with_a_trailing_newline() -> None:
    # The guard exists so no malformed number is ever stored; a pattern ending
    # in "$" (instead of fullmatch or "\Z") lets "+260...\n" through.
    try:
        accepted = require_zambian_mobile("+260977123456\n")
    except InvalidPhoneNumber:
        return
    pytest.fail(f"require_zambian_mobile accepted {accepted!r} (trailing newline) and would store it")


def test_the_refusal_does_not_carry_the_full_number() -> None:
    with pytest.raises(InvalidPhoneNumber) as excinfo:
        require_zambian_mobile("+260211123456")
    assert "+260211123456" not in repr(excinfo.value.params)
    assert "+260211123456" not in str(excinfo.value)


def test_mask_keeps_the_network_and_two_digits_of_an_e164_number() -> None:
    masked = mask_phone("+260977123456")
    assert masked == "+26097*****56"
    assert "71234" not in masked
    assert "456" not in masked


def test_masks_of_different_numbers_can_still_be_told_apart() -> None:
    assert mask_phone("+260977123456") != mask_phone("+260966123789")


@pytest.mark.parametrize(
    ("odd", "masked"),
    [
        ("", ""),
        ("1", "*"),
        ("12", "**"),
        ("0977", "0***"),
        ("+260977", "+26***7"),
        ("0977123456", "0977*****6"),
        ("+260 97 712 3456", "+260 9********56"),
    ],
)
def test_a_shorter_or_odd_string_is_masked_in_proportion(odd: str, masked: str) -> None:
    assert mask_phone(odd) == masked


@pytest.mark.parametrize("size", range(1, 40))
def test_a_mask_never_shows_the_whole_string(size: int) -> None:
    value = "".join(str(i % 10) for i in range(size))
    masked = mask_phone(value)
    assert len(masked) == size
    assert masked.count("*") * 13 >= size * 5, "at least 5 characters in 13 stay hidden"


def test_local_format_is_how_zambians_write_their_own_number() -> None:
    assert local_format("+260977123456") == "0977123456"
    assert local_format("+260761456789") == "0761456789"


def test_local_format_leaves_foreign_numbers_alone() -> None:
    assert local_format("+254712345678") == "+254712345678"


@pytest.mark.parametrize("prefix", OPERATOR_PREFIXES)
def test_local_format_reads_back_as_the_same_number(prefix: str) -> None:
    phone = f"+260{prefix}7123456"
    assert parse_zambian_mobile(local_format(phone)) == phone
