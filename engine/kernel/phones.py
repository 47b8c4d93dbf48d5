"""Zambian mobile numbers as the engine accepts them: E.164 only.

Turning what people type (``0977 123 456``, ``260977123456``) into E.164 is
the entry points' job (they use the ``phonenumbers`` library); the engine
checks the result so no malformed number is ever stored.
"""

from __future__ import annotations

import re

from engine.kernel.errors import InvalidPhoneNumber

# +260, then a mobile prefix: 95/75 Zamtel, 96/76 MTN, 97/77 Airtel, 98/78 Beeline.
ZAMBIAN_MOBILE_E164 = re.compile(r"^\+260(?:[59][5-8]|7[5-9])\d{7}$")


def require_zambian_mobile(phone: str) -> str:
    if not ZAMBIAN_MOBILE_E164.fullmatch(phone):
        raise InvalidPhoneNumber("not a Zambian mobile number in E.164 form", phone=mask_phone(phone))
    return phone


def mask_phone(phone: str) -> str:
    """``+260977123456`` -> ``+26097*****56``: the network and two digits, enough to follow one caller in logs.

    The first 6 and the last 2 of 13 characters stay; any other length keeps
    the same proportions, rounded down, so at least 5 in 13 characters are
    always hidden and a string is never shown whole.
    """
    size = len(phone)
    head = min(6, size * 6 // 13)
    tail = min(2, size * 2 // 13)
    return phone[:head] + "*" * (size - head - tail) + phone[size - tail :]


def local_format(phone: str) -> str:
    """``+260977123456`` -> ``0977123456``, the way Zambians write their own numbers."""
    return "0" + phone[4:] if phone.startswith("+260") else phone
