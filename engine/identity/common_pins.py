"""The 4-digit PINs people choose most often, refused when a PIN is chosen.

A stranger holding someone's phone gets 9 guesses at most before the PIN is
locked until an operator resets it (3 tries, then 30 minutes, 3 more, then
24 hours, 3 more). Against a uniformly random PIN that is a 0.09% chance;
against PINs as people pick them it is far higher, because a few hundred
values cover a large share of real choices. Published analyses of leaked PIN
sets (DataGenetics, "PIN analysis", 2012, 3.4 million PINs; Wang et al.,
"Understanding human-chosen PINs", IEEE S&P 2020) agree on what those values
are: one digit repeated, straight runs, repeated pairs, years of birth and
lines or shapes on the keypad. This module refuses them by rule, which keeps
the list explainable (a user is told why) and reviewable in one screen.

:data:`COMMON_PINS` holds 325 values (3.25% of all PINs): a little over the
~200 most common of those studies, because a rule refuses a whole family
(every ABAB pair, not only 1212) rather than guessing where its tail stops.
"""

from __future__ import annotations

from itertools import pairwise, product

_DIGITS = "0123456789"
_RUN = "01234567890"  # runs may wrap 9 -> 0 (7890, 8901): phones put 0 after 9


def _runs() -> set[str]:
    ascending = {_RUN[i : i + 4] for i in range(len(_RUN) - 3)}
    return ascending | {pin[::-1] for pin in ascending}


def _repeated_pairs() -> set[str]:
    pairs = set()
    for a, b in product(_DIGITS, repeat=2):
        pairs |= {a + b + a + b, a + a + b + b}  # 1212, 1122
    return pairs


# Years people use: their own or a child's birth, a wedding, "2000".
_YEARS = {str(year) for year in range(1950, 2031)}

# Lines, corners and crosses on a phone keypad (1 2 3 / 4 5 6 / 7 8 9 / 0),
# each in both directions.
_KEYPAD_SHAPES = {
    "2580",  # the middle column, top to bottom
    "1470",
    "3690",
    "1590",  # the diagonal and on to 0
    "7530",
    "1357",  # the X
    "1397",  # the corners, clockwise and across
    "1379",
    "3179",
    "7913",
    "2468",  # the even digits
    "1478",  # the L
    "2684",  # the ring around 5
    "8426",
    "1793",
    "1001",  # doubled zeros people use as a "code"
    "1004",
    "6969",
}
_KEYPAD = _KEYPAD_SHAPES | {pin[::-1] for pin in _KEYPAD_SHAPES}


def _even_steps() -> set[str]:
    """Digits climbing or falling by one step size up to 3: 1357, 0369, 9630 (and 1111, 1234)."""
    found = set()
    for pin in ("".join(p) for p in product(_DIGITS, repeat=4)):
        steps = {int(b) - int(a) for a, b in pairwise(pin)}
        if len(steps) == 1 and abs(next(iter(steps))) <= 3:
            found.add(pin)
    return found


COMMON_PINS: frozenset[str] = frozenset(_even_steps() | _runs() | _repeated_pairs() | _YEARS | _KEYPAD)


def is_common_pin(pin: str) -> bool:
    """True if ``pin`` is among the PINs people pick most (and so an attacker tries first)."""
    return pin in COMMON_PINS
