"""Turn the ways people write Zambian mobile numbers into E.164."""

from __future__ import annotations

import functools
import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from engine.kernel.errors import InvalidPhoneNumber
from engine.kernel.phones import require_zambian_mobile

_ALLOWED = re.compile(r"[0-9+()\-. ]+")
_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


# Every hop parses the caller's number, and phonenumbers takes ~40 µs; the
# same few thousand phones are dialling at any moment. Refusals are not cached.
@functools.lru_cache(maxsize=16_384)
def parse_zambian_mobile(text: str) -> str:
    """``0977 123 456``, ``260977123456``, ``+260-97-712-3456`` -> ``+260977123456``.

    Anything that is not a valid Zambian mobile number raises InvalidPhoneNumber.
    """
    cleaned = text.strip()
    # phonenumbers maps letters to keypad digits (ABC -> 2); a typo must never
    # silently become somebody else's number.
    if not cleaned or not _ALLOWED.fullmatch(cleaned):
        raise InvalidPhoneNumber("a phone number has digits only")
    if cleaned.startswith("260"):
        cleaned = "+" + cleaned
    try:
        number = phonenumbers.parse(cleaned, "ZM")
    except NumberParseException:
        raise InvalidPhoneNumber("not a phone number") from None
    if number.country_code != 260 or not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber("not a valid Zambian number")
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise InvalidPhoneNumber("not a Zambian mobile number")
    return require_zambian_mobile(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
