"""``enerlectra prices ...`` and ``enerlectra market ...``: operators read a cluster's price and book, set tariffs.

enerlectra prices explain CLUSTER        the price now and each of its components, one per line, with the
                                         tariff's source and date
enerlectra prices show CLUSTER [--days N]
                                         the last N days' slots: posted price, open, high, low, close, volume
enerlectra prices tariff CLUSTER         the cluster's tariffs, each from when it takes effect
enerlectra prices tariff-set CLUSTER --base K --floor K --cap K --lifeline-kwh X --source TEXT
        --source-date YYYY-MM-DD [--periods "midday=10:00-15:00@0.80,peak=18:00-22:00@1.30"] [--from ISO]
                                         a new tariff from now (or --from, local time unless an offset is given)
enerlectra market book CLUSTER [--levels N]   the order book's depth, asks above bids
enerlectra market trades CLUSTER [--limit N]  the book's trades, newest first
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from datetime import date

from engine.kernel.clock import MICROS_PER_SECOND
from engine.kernel.errors import InvalidInput
from engine.kernel.units import format_energy, format_money, format_price, parse_energy, parse_price
from engine.markets.errors import InvalidTariff
from engine.markets.model import SlotPrice, Tariff
from engine.platform import Platform
from ussd_server.markets.describe import (
    explain_lines,
    parse_moment,
    parse_periods,
    percent,
    source_text,
    tariff_lines,
    when,
    zone,
)

Command = Callable[[Platform, argparse.Namespace], Awaitable[int]]
DAY_S = 24 * 3600
MAX_DAYS = 31


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    prices = sub.add_parser("prices", help="clusters' prices and tariffs").add_subparsers(dest="action", required=True)
    explain = prices.add_parser("explain", help="the price now and each of its components, one per line")
    explain.add_argument("cluster")
    show = prices.add_parser("show", help="recent slots: price, open, high, low, close, volume")
    show.add_argument("cluster")
    show.add_argument("--days", type=int, default=1, help=f"how many days back (1 to {MAX_DAYS})")
    tariff = prices.add_parser("tariff", help="the cluster's tariffs")
    tariff.add_argument("cluster")
    tariff_set = prices.add_parser("tariff-set", help="set a cluster's tariff from now (or --from)")
    tariff_set.add_argument("cluster")
    tariff_set.add_argument("--base", required=True, help="Kwacha per kWh, e.g. 1.20")
    tariff_set.add_argument("--floor", required=True, help="the lowest price (e.g. a buy-back rate), Kwacha per kWh")
    tariff_set.add_argument("--cap", required=True, help="the highest price, Kwacha per kWh")
    tariff_set.add_argument("--lifeline-kwh", required=True, help="a household's monthly kWh never surge-priced")
    tariff_set.add_argument("--source", required=True, help="where the figures come from")
    tariff_set.add_argument("--source-date", required=True, help="the source's date, YYYY-MM-DD")
    tariff_set.add_argument(
        "--periods",
        default="",
        help='time of use, local times: "midday=10:00-15:00@0.80,peak=18:00-22:00@1.30" (none: the base all day)',
    )
    tariff_set.add_argument("--from", dest="effective_from", help="ISO date or time it takes effect (default: now)")
    market = sub.add_parser("market", help="clusters' order books").add_subparsers(dest="action", required=True)
    book = market.add_parser("book", help="the order book's depth")
    book.add_argument("cluster")
    book.add_argument("--levels", type=int, default=5, help="price levels on each side")
    trades = market.add_parser("trades", help="the book's trades, newest first")
    trades.add_argument("cluster")
    trades.add_argument("--limit", type=int, default=20)


def _offset(platform: Platform) -> int:
    return platform.config.local_utc_offset_s


async def explain(platform: Platform, args: argparse.Namespace) -> int:
    explained = await platform.prices.explain(args.cluster)
    for line in explain_lines(explained, platform.prices.market, _offset(platform)):
        print(line)
    return 0


def _ohlc(row: SlotPrice) -> str:
    values = (row.open or row.price, row.high or row.price, row.low or row.price, row.close or row.price)
    return " ".join(f"{format_money(v):>8}" for v in values)


async def show(platform: Platform, args: argparse.Namespace) -> int:
    if not 1 <= args.days <= MAX_DAYS:
        raise InvalidInput(f"--days runs from 1 to {MAX_DAYS}", days=args.days)
    cluster = await platform.clusters.get(args.cluster)
    offset, now = _offset(platform), platform.clock.now_us()
    posted, summary = await platform.prices.summary(args.cluster)
    rows = await platform.prices.series(args.cluster, from_us=now - args.days * DAY_S * MICROS_PER_SECOND, to_us=now)
    print(f"{cluster.cluster.name} ({cluster.cluster.id}): the last {args.days} day(s), times {zone(offset)}")
    print(f"{'slot':16}  {'price':>12}  {'open':>8} {'high':>8} {'low':>8} {'close':>8}  {'volume':>12} trades")
    for row in rows:
        print(
            f"{when(row.slot_start_us, offset):16}  {format_price(row.price):>12}  {_ohlc(row)}"
            f"  {format_energy(row.volume_wh):>12} {row.trades:>6}"
        )
    if not rows:
        print("  no slots priced in that time")
    t, a = summary.trend, summary.advice
    day, week = _volatility(summary.volatility_day_bps), _volatility(summary.volatility_week_bps)
    print(
        f"now {format_price(posted.price)}; today {format_money(summary.low)} to {format_money(summary.high)};"
        f" 24 h trend {t.direction} {percent(t.change_bps)}; volatility day {day}, week {week};"
        f" advice {a.kind} ({a.reason.replace('_', ' ')})"
    )
    return 0


def _volatility(bps: int | None) -> str:
    return "-" if bps is None else f"{bps // 100}.{bps % 100:02d}%"


async def tariffs(platform: Platform, args: argparse.Namespace) -> int:
    listed = await platform.prices.tariffs(args.cluster)
    current = await platform.prices.tariff(args.cluster)
    if not listed:
        print(f"{args.cluster}: no tariff set; priced by the platform default")
        listed = [current]
    for tariff in listed:
        for line in tariff_lines(tariff, _offset(platform), in_force=tariff == current):
            print(line)
    return 0


async def tariff_set(platform: Platform, args: argparse.Namespace) -> int:
    offset = _offset(platform)
    try:
        source_date = date.fromisoformat(args.source_date.strip()).isoformat()
    except ValueError:
        raise InvalidInput(f"--source-date {args.source_date!r}: write YYYY-MM-DD", field="source_date") from None
    try:
        tariff = await _set_tariff(platform, args, source_date, offset)
    except InvalidTariff as exc:  # name what is wrong: the error alone says only that something is
        raise InvalidTariff(f"{exc.detail}: check {exc.params.get('field', '?')}", **exc.params) from None
    print(f"{args.cluster}: tariff set ({source_text(tariff)})")
    for line in tariff_lines(tariff, offset, in_force=tariff == await platform.prices.tariff(args.cluster)):
        print(line)
    return 0


async def _set_tariff(platform: Platform, args: argparse.Namespace, source_date: str, offset: int) -> Tariff:
    return await platform.prices.set_tariff(
        args.cluster,
        base=parse_price(args.base),
        floor=parse_price(args.floor),
        cap=parse_price(args.cap),
        periods=parse_periods(args.periods),
        lifeline_wh=parse_energy(args.lifeline_kwh, allow_zero=True),
        source=args.source,
        source_date=source_date,
        effective_from_us=parse_moment(args.effective_from, offset) if args.effective_from else None,
    )


async def book(platform: Platform, args: argparse.Namespace) -> int:
    depth = await platform.orders.depth(args.cluster, levels=max(1, min(args.levels, 50)))
    print(f"{args.cluster}: order book, posted price {format_price(depth.price)}")
    if not depth.bids and not depth.asks:
        print("  no open orders")
        return 0
    for price, wh, orders in reversed(depth.asks):
        print(f"  sell {format_price(price):>12} {format_energy(wh):>14}  ({orders} order{'s' * (orders != 1)})")
    print(f"  ---- {format_price(depth.price):>12} posted")
    for price, wh, orders in depth.bids:
        print(f"  buy  {format_price(price):>12} {format_energy(wh):>14}  ({orders} order{'s' * (orders != 1)})")
    return 0


async def trades(platform: Platform, args: argparse.Namespace) -> int:
    await platform.clusters.get(args.cluster)
    offset = _offset(platform)
    found = await platform.orders.trades(args.cluster, limit=max(1, min(args.limit, 500)))
    if not found:
        print(f"{args.cluster}: no trades yet")
        return 0
    print(f"{args.cluster}: trades, newest first (times {zone(offset)})")
    print(f"{'#':>6}  {'at':16}  {'price':>12}  {'energy':>12}  taker  slot")
    for t in found:
        print(
            f"{t.seq:>6}  {when(t.at_us, offset):16}  {format_price(t.price):>12}  {format_energy(t.wh):>12}"
            f"  {t.taker:5}  {when(t.slot_start_us, offset)[11:]}"
        )
    return 0


COMMANDS: dict[tuple[str, str | None], Command] = {
    ("prices", "explain"): explain,
    ("prices", "show"): show,
    ("prices", "tariff"): tariffs,
    ("prices", "tariff-set"): tariff_set,
    ("market", "book"): book,
    ("market", "trades"): trades,
}
