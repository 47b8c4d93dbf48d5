"""The journeys virtual phones run, with the screen each hop must reach (English catalog).

``MIX`` is what we take as a realistic day: mostly looking (a dial that
stops at the main menu, balance, mini-statement), and about three journeys
in ten moving energy with a PIN: buying from a cluster, offering energy to
another user at the market price (they accept later, or not) or giving it.
Each journey ends the way a person would: on the screen they wanted
(balance, statement) or on the receipt (``END``).
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.loadgen import Journey, Step
from bench.population import BENCH_PIN, local
from ussd_server.demo import CLUSTERS
from ussd_server.i18n import FORMATTERS, Catalogs
from ussd_server.settings import Settings

MIX = {"dial": 20, "balance": 30, "statement": 20, "buy": 15, "send": 15}
# The same looking journeys in the same proportions, without the PIN ones: the KDF's share shows as the difference.
NOPIN_MIX = {k: v for k, v in MIX.items() if k in ("dial", "balance", "statement")}
# For scaling with users: a dial and a balance read the user and both wallets, which is what grows with them.
LIGHT_MIX = {"dial": 50, "balance": 50}
# Gifts only: what one gift costs on USSD (five hops, one PIN check), beside the same gift on the REST API.
GIFT_MIX = {"gift": 100}

# The region list follows the default REGION_ORDER (the demo's regions are all in it) and each
# region's cluster list is sorted by name; the first cluster of a region is always on the first page.
REGIONS = [r for r in Settings().region_order if any(c.region == r for c in CLUSTERS)]
FIRST_CLUSTER = {r: min(c.name for c in CLUSTERS if c.region == r) for r in REGIONS}
KWH, WH = "0.1", 100

_CATALOGS = Catalogs.load()


def screen(key: str, lead: str = "CON ", **known: Any) -> str:
    """What a reply showing catalog ``key`` starts with: its English text up to the first value we cannot know.

    Read from the catalog rather than copied, so rewording a screen does not break the benchmark.
    """
    out = [lead]
    for literal, name, spec, _ in string.Formatter().parse(_CATALOGS.text("en", key)):
        out.append(literal)
        if name is None:
            continue
        if name not in known:
            break
        out.append(FORMATTERS[spec](known[name]) if spec else str(known[name]))
    return "".join(out)


PIN_BUSY = screen("err.pin_busy")


def dial() -> list[Step]:
    return [Step("", screen("home.title"))]


def balance() -> list[Step]:
    return [*dial(), Step("1", screen("wallet.balance"))]


def statement() -> list[Step]:
    return [*balance(), Step("1*1", screen("statement.title"))]


def buy(region_index: int) -> list[Step]:
    region = REGIONS[region_index]
    cluster = FIRST_CLUSTER[region]
    r = str(region_index + 1)
    return [
        *dial(),
        Step("2", screen("buy.region")),
        Step(f"2*{r}", screen("buy.cluster", region=region)),
        Step(f"2*{r}*1", screen("buy.kwh", cluster_name=cluster)),
        Step(f"2*{r}*1*{KWH}", screen("buy.confirm", wh=WH, cluster_name=cluster)),
        Step(f"2*{r}*1*{KWH}*{BENCH_PIN}", screen("buy.receipt", "END ", wh=WH), pin=True, busy=PIN_BUSY),
    ]


def send(counterpart: str, *, gift: bool) -> list[Step]:
    """Offer 0.1 kWh at the market price (Sell energy, ``3``) or give it (Send energy, ``4``) to another user."""
    number = local(counterpart)
    if gift:
        return [
            *dial(),
            Step("4", screen("send.phone")),
            Step(f"4*{number}", screen("sell.kwh")),
            Step(f"4*{number}*{KWH}", screen("send.confirm", wh=WH)),
            Step(f"4*{number}*{KWH}*{BENCH_PIN}", screen("send.receipt", "END ", wh=WH), pin=True, busy=PIN_BUSY),
        ]
    price = "1.20"
    return [
        *dial(),
        Step("3", screen("sell.phone")),
        Step(f"3*{number}", screen("sell.kwh")),
        Step(f"3*{number}*{KWH}", screen("sell.price")),
        Step(f"3*{number}*{KWH}*{price}", screen("sell.confirm", wh=WH)),
        Step(f"3*{number}*{KWH}*{price}*{BENCH_PIN}", screen("sell.receipt", "END ", wh=WH), pin=True, busy=PIN_BUSY),
    ]


def _example(kind: str) -> list[Step]:
    if kind == "buy":
        return buy(0)
    if kind in ("send", "gift"):
        return send("+260950000001", gift=kind == "gift")
    return {"dial": dial, "balance": balance, "statement": statement}[kind]()


def pin_share(mix: Mapping[str, int]) -> float:
    """The share of PIN hops among all hops that ``mix`` offers."""
    steps = {kind: _example(kind) for kind in mix}
    pins = sum(weight * sum(s.pin for s in steps[kind]) for kind, weight in mix.items())
    return pins / sum(weight * len(steps[kind]) for kind, weight in mix.items())


@dataclass(frozen=True, slots=True)
class _Pick:
    names: Sequence[str]
    weights: Sequence[int]

    def __call__(self, rng: random.Random) -> str:
        return rng.choices(self.names, self.weights)[0]


class MixSource:
    """Journeys drawn from ``mix`` for phones drawn from ``phones``.

    Phone slot ``s`` uses only ``phones[s::concurrency]``, so no two virtual
    phones ever run a session for the same number at once (which would offer
    each other's dropped sessions for resume). ``randomly`` picks a phone of
    the slot at random each journey (a cold spread over a large population);
    otherwise they take turns.
    """

    def __init__(
        self,
        phones: Callable[[int], str],
        population: int,
        mix: Mapping[str, int],
        *,
        concurrency: int,
        counterparts: Sequence[str] = (),
        randomly: bool = False,
        seed: int = 1,
    ) -> None:
        if population < concurrency:
            raise ValueError(f"{population} phones cannot keep {concurrency} virtual phones apart")
        if ("send" in mix or "gift" in mix) and len(counterparts) < 2:
            raise ValueError("send journeys need at least two funded counterparts")
        self._phone = phones
        self._population = population
        self._concurrency = concurrency
        self._pick = _Pick(list(mix), list(mix.values()))
        self._counterparts = counterparts
        self._randomly = randomly
        self._rngs = [random.Random(seed * 100_003 + s) for s in range(concurrency)]
        self._turn = [0] * concurrency

    def _phone_for(self, slot: int) -> str:
        per_slot = (self._population - slot + self._concurrency - 1) // self._concurrency
        if self._randomly:
            k = self._rngs[slot].randrange(per_slot)
        else:
            k = self._turn[slot] % per_slot
            self._turn[slot] += 1
        return self._phone(slot + k * self._concurrency)

    def next(self, slot: int) -> Journey:
        rng = self._rngs[slot]
        phone = self._phone_for(slot)
        kind = self._pick(rng)
        if kind == "dial":
            steps = dial()
        elif kind == "balance":
            steps = balance()
        elif kind == "statement":
            steps = statement()
        elif kind == "buy":
            steps = buy(rng.randrange(len(REGIONS)))
        elif kind == "send":
            other = rng.choice(self._counterparts)
            while other == phone:
                other = rng.choice(self._counterparts)
            kind = "gift" if rng.random() < 0.5 else "offer"
            steps = send(other, gift=kind == "gift")
        elif kind == "gift":
            other = rng.choice(self._counterparts)
            while other == phone:
                other = rng.choice(self._counterparts)
            steps = send(other, gift=True)
        else:
            raise ValueError(f"unknown journey {kind!r}")
        return Journey(kind, phone, tuple(steps))


class BaselineSource:
    """The same journeys (same texts, sessions, hop counts) against a baseline that answers ``CON hello``."""

    def __init__(self, inner: MixSource) -> None:
        self._inner = inner

    def next(self, slot: int) -> Journey:
        journey = self._inner.next(slot)
        return Journey(journey.name, journey.phone, tuple(Step(s.text, "CON hello") for s in journey.steps))
