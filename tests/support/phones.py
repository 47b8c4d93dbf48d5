"""Phone numbers for callers a test makes: valid Zambian mobiles that no other caller of this run has."""

from __future__ import annotations

import itertools
import random

from simulator.numbers import DEMO_NUMBERS

_PREFIXES = ("97", "96", "95", "77", "76")
# Counted, not drawn: no two numbers of one process meet. The random start makes two test runs
# sharing one Redis very unlikely to meet on a number either.
_numbers = itertools.count(random.randrange(1_000_000, 8_000_000))


def unique_phone(prefix: str | None = None) -> str:
    """An E.164 number (``+2609...``) never handed out before in this process, and no demo user's.

    ``prefix`` picks the network (``96``: MTN, ``97``: Airtel, ``95``: Zamtel); else they take turns.
    """
    while True:
        n = next(_numbers)
        phone = f"+260{prefix or _PREFIXES[n % len(_PREFIXES)]}{n:07d}"
        if phone not in DEMO_NUMBERS:
            return phone
