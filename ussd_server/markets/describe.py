"""Market records as an operator reads them: a price's components one per line, tariffs, periods written by hand."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from engine.kernel.clock import MICROS_PER_SECOND
from engine.kernel.errors import InvalidInput
from engine.kernel.local_time import local_text
from engine.kernel.units import format_energy, format_price
from engine.markets.config import MarketConfig
from engine.markets.model import Tariff, TouPeriod
from engine.markets.prices import Explained

BPS = 10_000
_TIME = r"([0-2]?[0-9]):([0-5][0-9])"
_PERIOD = re.compile(rf"^([a-z][a-z0-9_]{{0,19}})={_TIME}-{_TIME}@([0-9]+(?:\.[0-9]{{1,4}})?)$")


def when(us: int, offset_s: int) -> str:
    """A moment in local time, as the operator's clock shows it."""
    return local_text(us, offset_s, "%Y-%m-%d %H:%M")


def zone(offset_s: int) -> str:
    hours, rest = divmod(abs(offset_s), 3600)
    return f"UTC{'-' if offset_s < 0 else '+'}{hours}" + (f":{rest // 60:02d}" if rest else "")


def percent(bps: int) -> str:
    """Signed basis points as a percentage: ``-500`` -> ``-5.00%``."""
    sign = "-" if bps < 0 else "+"
    return f"{sign}{abs(bps) // 100}.{abs(bps) % 100:02d}%"


def factor(bps: int) -> str:
    """A multiplier in basis points: ``13000`` -> ``x1.30``; ``10125`` -> ``x1.0125``."""
    digits = f"{bps % BPS:04d}"
    return f"x{bps // BPS}.{digits[:2] if digits.endswith('00') else digits}"


def _scaled(price: int, bps: int) -> int:
    return (price * bps * 2 + BPS) // (2 * BPS)


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def period_text(period: TouPeriod) -> str:
    return f"{period.name}={_hhmm(period.start_minute)}-{_hhmm(period.end_minute)}@{factor(period.factor_bps)[1:]}"


def source_text(tariff: Tariff) -> str:
    dated = f" (dated {tariff.source_date})" if tariff.source_date else ""
    return f"{tariff.source}{dated}"


def explain_lines(explained: Explained, market: MarketConfig, offset_s: int) -> list[str]:
    """The current price and each of its components, one per line, in the order the formula applies them."""
    posted, e = explained.posted, explained.explanation
    tariff, start = posted.tariff, posted.slot.slot_start_us
    end = start + market.slot_s * MICROS_PER_SECOND
    in_force = (
        f"tariff in force from {when(tariff.effective_from_us, offset_s)}"
        if tariff.effective_from_us
        else "platform default: no tariff set for this cluster"
    )
    period = f"{e.period}: {factor(e.period_bps)}" if e.period else f"no period: {factor(e.period_bps)}"
    permille = e.utilisation_permille
    if e.previous:
        since = f"{e.slots_since} slot{'s' * (e.slots_since != 1)} ago"
        smoothing = (
            f"from {format_price(e.previous)}, {since}: each slot moves {market.smoothing_permille // 10}% of the way"
            f" to the target, at most {market.max_step_bps // 100}% of the price"
        )
    else:
        smoothing = "none: the cluster's first price starts at the target"
    bound = " (the price sits on it)" if e.bounded else ""
    return [
        f"{posted.cluster.name} ({posted.cluster.id}): {format_price(e.price)} for the slot"
        f" {local_text(start, offset_s, '%Y-%m-%d %H:%M')}-{local_text(end, offset_s, '%H:%M')} ({zone(offset_s)})",
        f"  base          {format_price(e.base)}  ({in_force})",
        f"  source        {source_text(tariff)}",
        f"  time of use   {period} -> {format_price(_scaled(e.base, e.period_bps))}",
        f"  utilisation   {permille // 10}.{permille % 10}% of the pool sold: {percent(e.utilisation_bps)}",
        f"  open orders   buying {format_energy(e.buy_wh)}, selling {format_energy(e.sell_wh)}:"
        f" {percent(e.imbalance_bps)}",
        f"  target        {format_price(e.target)}",
        f"  smoothing     {smoothing}",
        f"  floor, cap    {format_price(e.floor)} .. {format_price(e.cap)}{bound}",
        f"  price         {format_price(e.price)}",
    ]


def tariff_lines(tariff: Tariff, offset_s: int, *, in_force: bool) -> list[str]:
    start = f"from {when(tariff.effective_from_us, offset_s)}" if tariff.effective_from_us else "platform default"
    periods = ", ".join(period_text(p) for p in tariff.periods) or "none"
    return [
        f"{start}{'  <- in force now' if in_force else ''}",
        f"  base {format_price(tariff.base)}, floor {format_price(tariff.floor)}, cap {format_price(tariff.cap)};"
        f" lifeline {format_energy(tariff.lifeline_wh)} a month",
        f"  periods {periods}",
        f"  source {source_text(tariff)}",
    ]


def parse_periods(text: str) -> tuple[TouPeriod, ...]:
    """``midday=10:00-15:00@0.80,peak=18:00-22:00@1.30`` (local times; the factor times the base price)."""
    periods: list[TouPeriod] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        match = _PERIOD.match(part)
        if match is None:
            raise InvalidInput(f"period {part!r}: write name=HH:MM-HH:MM@factor, e.g. peak=18:00-22:00@1.30")
        name, h1, m1, h2, m2, multiple = match.groups()
        if int(h1) > 23 or int(h2) > 23:
            raise InvalidInput(f"period {part!r}: hours run 00 to 23")
        whole, _, frac = multiple.partition(".")
        bps = int(whole) * BPS + int((frac or "0").ljust(4, "0"))
        periods.append(TouPeriod(name, int(h1) * 60 + int(m1), int(h2) * 60 + int(m2), bps))
    return tuple(periods)


def parse_moment(text: str, offset_s: int) -> int:
    """An ISO date or date and time; without an offset it is local time. UTC microseconds."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"--from {text!r}: write an ISO date or time, e.g. 2026-01-01 or 2026-01-01T06:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC) - timedelta(seconds=offset_s)
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
