"""Zambian mobile numbers as a handset and a gateway see them.

The simulator stays independent of the server's own parser on purpose: it is
a black-box client, and must also drive another team's AT-compatible app.
"""

from __future__ import annotations

import random
import re

# Mobile prefixes after +260 (two digits, then seven more). The operator
# names follow the numbering plan; the MNCs under Zambia's MCC 645 are
# illustrative (Airtel 01, MTN 02, Zamtel 03; the fourth licence is given 04
# here). A server must not depend on them: AT passes what the carrier says.
NETWORKS: dict[str, tuple[str, str]] = {
    "97": ("Airtel", "64501"),
    "77": ("Airtel", "64501"),
    "96": ("MTN", "64502"),
    "76": ("MTN", "64502"),
    "95": ("Zamtel", "64503"),
    "75": ("Zamtel", "64503"),
    "98": ("Beeline", "64504"),
    "78": ("Beeline", "64504"),
}
DEFAULT_NETWORK = ("Airtel", "64501")
_MOBILE = re.compile(r"(?:[59][5-8]|7[5-9])\d{7}")
# The demo users every seeded server has (English speaker first: the phone in your hand at start).
# A fresh number must never be one of them.
DEMO_NUMBERS = ("+260955345678", "+260977123456", "+260966234567", "+260761456789")
_FRESH_PREFIXES = ("97", "96", "95", "77", "76", "75")
_FRESH_OPERATORS = {NETWORKS[p][0] for p in _FRESH_PREFIXES}


class BadNumber(ValueError):
    """Not a Zambian mobile number in any spelling the simulator accepts."""


def to_e164(number: str) -> str:
    """``0977 123 456``, ``260977123456`` or ``+260-97-712-3456`` -> ``+260977123456``."""
    digits = re.sub(r"[\s\-()]", "", number)
    if digits.startswith("+"):
        digits = digits[1:]
    elif digits.startswith("0") and len(digits) == 10:
        digits = "260" + digits[1:]
    if not (digits.startswith("260") and _MOBILE.fullmatch(digits[3:])):
        raise BadNumber(f"not a Zambian mobile number: {number!r}")
    return "+" + digits


def local_format(e164: str) -> str:
    """The way people type it on a keypad: ``0977123456``."""
    return "0" + e164[4:]


def network_of(e164: str) -> tuple[str, str]:
    """(operator name, networkCode) for a number, from its prefix."""
    return NETWORKS.get(e164[4:6], DEFAULT_NETWORK)


def operator_named(name: str) -> str | None:
    """The operator's name as the numbering plan spells it (``mtn`` -> ``MTN``); None if no fresh number has it."""
    return next((NETWORKS[p][0] for p in _FRESH_PREFIXES if NETWORKS[p][0].lower() == name.strip().lower()), None)


def fresh_number(rng: random.Random | None = None, *, operator: str | None = None) -> str:
    """A random valid number that no demo user has (10^7 per prefix: collisions are negligible).

    ``operator`` (``MTN``, ``Airtel``, ``Zamtel``) picks the network, e.g. one with mobile money.
    """
    rng = rng or random.SystemRandom()
    prefixes = [p for p in _FRESH_PREFIXES if operator is None or NETWORKS[p][0].lower() == operator.lower()]
    if not prefixes:
        raise BadNumber(f"no fresh numbers on {operator!r} (operators: {', '.join(sorted(_FRESH_OPERATORS))})")
    while True:
        number = f"+260{rng.choice(prefixes)}{rng.randrange(10_000_000):07d}"
        if number not in DEMO_NUMBERS:
            return number
