"""A cluster's price for a slot, and why: tariff x time of use x (utilisation, open interest), smoothed and bounded.

The formula (docs/markets.md), integers throughout, each step rounded half up:

1. ``period``: the tariff's time-of-use factor for the slot's local start time (10,000 = base).
2. ``utilisation_adj = utilisation_weight x (u - 500) / 500`` where ``u`` is the share of the
   pool sold, in permille: +weight when sold out, -weight when full.
3. ``imbalance_adj = imbalance_weight x (buy - sell) / (buy + sell)`` over the Wh of open orders
   (0 with none): buyers waiting push the price up, sellers down.
4. ``target = base x period / 10,000 x (10,000 + utilisation_adj + imbalance_adj) / 10,000``.
5. For each slot since the last posted price (at most ``max_catch_up_slots``), move
   ``smoothing`` of the way to the target, by at least 1 ngwee and at most ``max_step`` of the
   previous price (at least 1 ngwee).
6. Clamp to the tariff's ``floor..cap``.

A cluster with no price history starts at the target. Nothing here reads a clock or a database.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.energy.model import Cluster
from engine.kernel.clock import MICROS_PER_SECOND
from engine.markets.config import MarketConfig
from engine.markets.model import Tariff, TouPeriod

BPS = 10_000
_DAY_MINUTES = 24 * 60


def _div_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half away from zero (denominator > 0)."""
    sign = -1 if numerator < 0 else 1
    return sign * ((abs(numerator) * 2 + denominator) // (2 * denominator))


def slot_start_us(at_us: int, slot_s: int) -> int:
    """The start of the slot holding ``at_us`` (slots divide an hour, so they align in local time too)."""
    slot_us = slot_s * MICROS_PER_SECOND
    return at_us - at_us % slot_us


def local_minute(at_us: int, offset_s: int) -> int:
    return ((at_us // MICROS_PER_SECOND + offset_s) // 60) % _DAY_MINUTES


def period_at(tariff: Tariff, minute: int) -> TouPeriod | None:
    """The time-of-use period holding a local minute of the day (None: the base price applies)."""
    for period in tariff.periods:
        if _holds(period, minute):
            return period
    return None


def default_tariff(cluster: Cluster, config: MarketConfig) -> Tariff:
    """What a cluster without a tariff of its own is priced by: its listed price and the platform defaults."""
    base = cluster.price_ngwee_per_kwh
    return Tariff(
        cluster_id=cluster.id,
        effective_from_us=0,
        base=base,
        floor=max(1, base * config.default_floor_bps // BPS),
        cap=max(base, -(-base * config.default_cap_bps // BPS)),
        periods=config.default_periods,
        lifeline_wh=config.default_lifeline_wh,
        source="platform default: the cluster's listed price",
        source_date="",
    )


@dataclass(frozen=True, slots=True)
class Conditions:
    """The cluster's state a price reacts to."""

    utilisation_permille: int  # share of the pool's capacity sold
    buy_wh: int  # open interest on each side of the book
    sell_wh: int


@dataclass(frozen=True, slots=True)
class PriceExplanation:
    """Every component of one slot's price, in the order the formula applies them."""

    base: int
    period: str  # "" when no time-of-use period applies
    period_bps: int
    utilisation_permille: int
    utilisation_bps: int
    buy_wh: int
    sell_wh: int
    imbalance_bps: int
    target: int
    previous: int  # 0: no history, the price starts at the target
    slots_since: int
    price: int
    floor: int
    cap: int

    @property
    def bounded(self) -> bool:
        """The price sits on the floor or the cap."""
        return self.price in (self.floor, self.cap)

    def components(self) -> dict[str, int]:
        """As stored with the slot's history row (the period's name apart)."""
        return {
            "base": self.base,
            "period_bps": self.period_bps,
            "utilisation_permille": self.utilisation_permille,
            "utilisation_bps": self.utilisation_bps,
            "buy_wh": self.buy_wh,
            "sell_wh": self.sell_wh,
            "imbalance_bps": self.imbalance_bps,
            "target": self.target,
            "previous": self.previous,
            "slots_since": self.slots_since,
            "floor": self.floor,
            "cap": self.cap,
        }


def utilisation_bps(utilisation_permille: int, config: MarketConfig) -> int:
    u = min(max(utilisation_permille, 0), 1000)
    return _div_half_up(config.utilisation_weight_bps * (u - 500), 500)


def imbalance_bps(buy_wh: int, sell_wh: int, config: MarketConfig) -> int:
    total = buy_wh + sell_wh
    if total <= 0:
        return 0
    return _div_half_up(config.imbalance_weight_bps * (buy_wh - sell_wh), total)


def step(previous: int, target: int, config: MarketConfig) -> int:
    """One slot's move from ``previous`` toward ``target``: smoothed, at least 1 ngwee, at most the step cap."""
    if previous == target:
        return previous
    move = _div_half_up((target - previous) * config.smoothing_permille, 1000)
    limit = max(1, previous * config.max_step_bps // BPS)
    if move == 0:
        move = 1 if target > previous else -1
    return previous + max(-limit, min(limit, move))


def price_for_slot(
    tariff: Tariff,
    conditions: Conditions,
    *,
    slot_start: int,
    previous: int,
    slots_since: int,
    config: MarketConfig,
    offset_s: int,
) -> PriceExplanation:
    """The posted price of the slot starting at ``slot_start`` and each component of it.

    ``previous`` is the last posted price (0 if none) and ``slots_since`` how many
    slots ago it was posted.
    """
    period = period_at(tariff, local_minute(slot_start, offset_s))
    period_bps = period.factor_bps if period else BPS
    util = utilisation_bps(conditions.utilisation_permille, config)
    imbalance = imbalance_bps(conditions.buy_wh, conditions.sell_wh, config)
    adjusted = _div_half_up(tariff.base * period_bps, BPS)
    target = max(1, _div_half_up(adjusted * (BPS + util + imbalance), BPS))
    if previous <= 0:
        price = target
    else:
        price = previous
        for _ in range(min(max(slots_since, 1), config.max_catch_up_slots)):
            price = step(price, target, config)
    price = min(max(price, tariff.floor), tariff.cap)
    return PriceExplanation(
        base=tariff.base,
        period=period.name if period else "",
        period_bps=period_bps,
        utilisation_permille=conditions.utilisation_permille,
        utilisation_bps=util,
        buy_wh=conditions.buy_wh,
        sell_wh=conditions.sell_wh,
        imbalance_bps=imbalance,
        target=target,
        previous=max(previous, 0),
        slots_since=slots_since,
        price=price,
        floor=tariff.floor,
        cap=tariff.cap,
    )


def lifeline_price(tariff: Tariff, price: int) -> int:
    """The lifeline allowance is never surge-priced: the base price, or less when the market is lower."""
    return min(tariff.base, price)


def validate_tariff(tariff: Tariff) -> str | None:
    """The field that makes a tariff unusable, or None."""
    if tariff.floor <= 0:
        return "floor"
    if not tariff.floor <= tariff.base <= tariff.cap:
        return "base"
    if tariff.lifeline_wh < 0:
        return "lifeline_wh"
    for period in tariff.periods:
        if not (0 <= period.start_minute < _DAY_MINUTES and 0 <= period.end_minute < _DAY_MINUTES):
            return "periods"
        if period.start_minute == period.end_minute or not 1_000 <= period.factor_bps <= 50_000:
            return "periods"
    minutes = [m for m in range(0, _DAY_MINUTES, 5) if sum(1 for p in tariff.periods if _holds(p, m)) > 1]
    if minutes:
        return "periods"  # two periods overlap
    if not tariff.source.strip():
        return "source"
    return None


def _holds(period: TouPeriod, minute: int) -> bool:
    start, end = period.start_minute, period.end_minute
    return start <= minute < end if start < end else (minute >= start or minute < end)
