"""Zambian mobile numbers as the engine accepts them: E.164 only.

Turning what people type (``0977 123 456``, ``260977123456``) into E.164 is
the entry points' job (they use the ``phonenumbers`` library); the engine
checks the result so no malformed number is ever stored.
"""

from __future__ import annotations

import re

from engine.errors import InvalidPhoneNumber

# +260, then a mobile prefix: 95/75 Zamtel, 96/76 MTN, 97/77 Airtel, 98/78 Beeline.
ZAMBIAN_MOBILE_E164 = re.compile(r"^\+260(?:[59][5-8]|7[5-9])\d{7}$")


def require_zambian_mobile(phone: str) -> str:
    if not ZAMBIAN_MOBILE_E164.fullmatch(phone):
        raise InvalidPhoneNumber("not a Zambian mobile number in E.164 form", phone=mask_phone(phone))
    return phone


def mask_phone(phone: str) -> str:
    """``+260977123456`` -> ``+260977***456``: enough to tell numbers apart in logs."""
    if len(phone) <= 7:
        return "*" * len(phone)
    return f"{phone[:7]}***{phone[-3:]}"


def local_format(phone: str) -> str:
    """``+260977123456`` -> ``0977123456``, the way Zambians write their own numbers."""
    return "0" + phone[4:] if phone.startswith("+260") else phone
