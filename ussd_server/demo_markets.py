"""The demo market: three weeks of prices in every demo cluster and a living order book in Lusaka.

Prices come from the real formula (:func:`engine.markets.pricing.price_for_slot`), slot by
slot, under the conditions of a solar micro-grid: the pool drains through the evening and
the night, the midday sun refills it, buyers and sellers come and go, and a cloudy spell
some ten days ago kept the pools low (and prices high) for days. A share of slots have
trades of a few kWh around the posted price. The history ends at the current slot, its
last hours drifting to the cluster's real state, so the live price carries on from it.

Then demo users and their Lusaka neighbours put good-for-day orders on the books of the
two Lusaka clusters, around today's price: most rest (the book has depth on both sides),
two cross (today has trades). They expire at local midnight; a seed on another day
places the day's orders again.

Safe to run twice: price rows that exist are kept, every order has a fixed id per day,
and what is placed already is not placed again. Deposits go through a Zamtel stand-in
(as the co-ops' history), and no SMS is sent for anything here.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass

from engine.identity.model import PinProof, User
from engine.kernel.clock import MICROS_PER_SECOND, ManualClock, SystemClock
from engine.kernel.errors import AlreadyRegistered, EnerlectraError, UserNotFound
from engine.kernel.events import EventBus
from engine.kernel.local_time import local_day, local_day_start_us, local_text
from engine.kernel.units import cost_of_energy
from engine.markets.backfill import PastSlot
from engine.markets.errors import OrderNotFound
from engine.markets.matching import buy_reservation
from engine.markets.model import Side, TouPeriod
from engine.markets.pricing import BPS, Conditions, slot_start_us
from engine.payments.model import Provider
from engine.platform import Platform
from ussd_server.bootstrap import open_platform
from ussd_server.demo_coops import CHIPO, DEMO_PIN, JOSEPH, MWILA, NATASHA, PEOPLE, InstantProviders
from ussd_server.kdf_pool import kdf_pool_for_this_machine, usable_cores
from ussd_server.settings import Settings

log = logging.getLogger("enerlectra")

DAY_S, HOUR_S = 24 * 3600, 3600
HISTORY_DAYS = 21
CLOUDY_DAYS_AGO = (11, 10, 9)  # the sun barely shows: the pools run low
DRIFT_SLOTS = 8  # the history's last slots move to the cluster's real utilisation
KABULONGA, CHELSTONE = "lsk-kabulonga-micro", "lsk-chelstone-solar"
TARIFF_SOURCE = "Demo co-op board decision"
SELL, BUY = Side.SELL, Side.BUY


@dataclass(frozen=True)
class OwnTariff:
    base: int
    floor: int
    cap: int
    periods: tuple[TouPeriod, ...]
    lifeline_wh: int


# Kabulonga's board sets its own prices: a buy-back floor sellers can count on, a dearer evening.
OWN_TARIFFS = {
    KABULONGA: OwnTariff(
        base=120,
        floor=95,
        cap=175,
        periods=(
            TouPeriod("midday", 10 * 60, 15 * 60, 7_500),
            TouPeriod("peak", 18 * 60, 22 * 60, 13_500),
            TouPeriod("night", 22 * 60, 6 * 60, 11_000),
        ),
        lifeline_wh=3_000,
    ),
}
TARIFF_DAYS_AGO = 30

# (cluster, who: a demo user's phone or a neighbour's tag, side, Wh, limit against today's price in bps).
# Asks above the price and bids below it rest; the last two cross the book, so today has trades.
BOOK = (
    (KABULONGA, "lsk1", SELL, 1_500, 300),
    (KABULONGA, CHIPO, SELL, 1_000, 600),
    (KABULONGA, "lsk3", SELL, 2_000, 1_000),
    (KABULONGA, MWILA, BUY, 2_000, -300),
    (KABULONGA, "lsk2", BUY, 1_000, -600),
    (KABULONGA, NATASHA, BUY, 1_500, -900),
    (CHELSTONE, "lsk4", SELL, 2_500, 200),
    (CHELSTONE, NATASHA, SELL, 1_000, 500),
    (CHELSTONE, "lsk6", SELL, 1_200, 800),
    (CHELSTONE, CHIPO, BUY, 1_000, -200),
    (CHELSTONE, "lsk5", BUY, 2_000, -500),
    (CHELSTONE, JOSEPH, BUY, 800, -700),
    (KABULONGA, JOSEPH, BUY, 500, 400),  # takes part of lsk1's ask
    (CHELSTONE, "lsk3", SELL, 600, -400),  # sells into Chipo's bid
)


# --- the history: a solar micro-grid's days -------------------------------------------------------


def sun_permille(minute: int) -> int:
    """Sunshine on a clear day by local minute: none before 06:30 or after 17:30, full at noon."""
    rise, noon, sets = 6 * 60 + 30, 12 * 60, 17 * 60 + 30
    if not rise < minute < sets:
        return 0
    return 1000 - abs(minute - noon) * 1000 // (noon - rise)


def demand_per_hour(minute: int) -> int:
    """Permille of the pool people draw in an hour: most in the evening, least at night."""
    hour = minute // 60
    if 18 <= hour < 22:
        return 75
    if hour >= 22 or hour < 5:
        return 22
    return 45 if hour < 9 else 35


def simulate(
    cluster_id: str,
    capacity_wh: int,
    *,
    first_slot_us: int,
    count: int,
    slot_s: int,
    offset_s: int,
    cloudy_days: Sequence[int],
    real_utilisation: int,
) -> list[PastSlot]:
    """``count`` slots from ``first_slot_us``: conditions and trades, the same for a cluster every time."""
    rng = random.Random(f"demo-market:{cluster_id}")
    liquidity = max(capacity_wh // 100, 1_000)  # Wh on each side of the book when it is balanced
    level, mood, clear, day_seen = 650, 0, 900, -1  # pool permille full, buyers' mood, sky, its day
    out: list[PastSlot] = []
    for n in range(count):
        start = first_slot_us + n * slot_s * MICROS_PER_SECOND
        minute = (start // MICROS_PER_SECOND + offset_s) // 60 % (24 * 60)
        day = local_day(start, offset_s)
        if day != day_seen:
            clear = rng.randint(200, 350) if day in cloudy_days else rng.randint(750, 1000)
            day_seen = day
        sun = sun_permille(minute) * clear // 1000
        change = sun * 230 // 1000 - demand_per_hour(minute) + rng.randint(-8, 8)  # per hour
        level = min(max(level + change * slot_s // HOUR_S, 0), 1000)
        used = 1000 - level
        drift = n - (count - DRIFT_SLOTS)
        if drift > 0:
            used = (used * (DRIFT_SLOTS - drift) + real_utilisation * drift) // DRIFT_SLOTS
        mood = mood * 9 // 10 + rng.randint(-120, 120)
        buy_wh = liquidity * max(0, 400 + (used - 500) // 2 + mood) // 1000
        sell_wh = liquidity * max(0, 300 + sun // 2 - (used - 500) // 2 - mood) // 1000
        hour = minute // 60
        night = hour >= 22 or hour < 6
        if night and rng.randint(0, 1):
            buy_wh = sell_wh = 0  # nobody about
        busy = 50 if 17 <= hour < 22 else 40 if 10 <= hour < 15 else 12 if night else 25  # percent of slots
        trades: tuple[tuple[int, int], ...] = ()
        if rng.randint(1, 100) <= busy:
            trades = tuple((rng.randint(-300, 300), rng.randint(2, 20) * 100) for _ in range(rng.randint(1, 3)))
        out.append(PastSlot(start, Conditions(used, buy_wh, sell_wh), trades))
    return out


async def write_history(platform: Platform, cluster_id: str, now_us: int) -> int:
    """Three weeks of the cluster's prices up to the current slot (the slots it has not got yet)."""
    market, offset = platform.prices.market, platform.config.local_utc_offset_s
    await own_tariff(platform, cluster_id, now_us)
    view = await platform.clusters.get(cluster_id)
    count = HISTORY_DAYS * DAY_S // market.slot_s + 1
    last = slot_start_us(now_us, market.slot_s)
    first = last - (count - 1) * market.slot_s * MICROS_PER_SECOND
    if len(await platform.prices.series(cluster_id, from_us=first, to_us=last + 1)) == count:
        return 0  # every slot has its price already
    today = local_day(now_us, offset)
    slots = simulate(
        cluster_id,
        view.cluster.capacity_wh,
        first_slot_us=first,
        count=count,
        slot_s=market.slot_s,
        offset_s=offset,
        cloudy_days=[today - d for d in CLOUDY_DAYS_AGO],
        real_utilisation=view.utilisation_permille,
    )
    return await platform.price_history.write(cluster_id, slots)


async def own_tariff(platform: Platform, cluster_id: str, now_us: int) -> None:
    """The cluster's own tariff, in force since before its history began (once)."""
    rules = OWN_TARIFFS.get(cluster_id)
    if rules is None or any(t.source == TARIFF_SOURCE for t in await platform.prices.tariffs(cluster_id)):
        return
    offset = platform.config.local_utc_offset_s
    since = local_day_start_us(now_us, offset) - TARIFF_DAYS_AGO * DAY_S * MICROS_PER_SECOND
    await platform.prices.set_tariff(
        cluster_id,
        base=rules.base,
        floor=rules.floor,
        cap=rules.cap,
        periods=rules.periods,
        lifeline_wh=rules.lifeline_wh,
        source=TARIFF_SOURCE,
        source_date=local_text(since, offset, "%Y-%m-%d"),
        effective_from_us=since,
    )


# --- today's book --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    operation_id: str
    cluster_id: str
    user: User
    side: Side
    wh: int
    price: int


class Traders:
    """The people on the demo book: demo users as they are, neighbours registered when missing."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._pin_hash = ""
        self._known: dict[str, User] = {}

    async def get(self, who: str) -> User | None:
        if who in self._known:
            return self._known[who]
        users = self.platform.users
        if who not in PEOPLE:
            try:
                user: User | None = await users.get(who)
            except UserNotFound:
                user = None  # a demo user seed_demo registers; no orders without them
        else:
            phone, name, language = PEOPLE[who]
            try:
                user = await users.get(phone)
            except UserNotFound:
                self._pin_hash = self._pin_hash or await users.hash_new_pin(DEMO_PIN)
                try:
                    user = await users.register(phone=phone, name=name, language=language, pin_hash=self._pin_hash)
                except AlreadyRegistered:
                    user = await users.get(phone)
        if user is not None:
            self._known[who] = user
        return user


async def todays_orders(platform: Platform, now_us: int) -> list[Pending]:
    """The day's demo orders not placed yet, priced around each cluster's price now."""
    day = local_text(now_us, platform.config.local_utc_offset_s, "%Y%m%d")
    traders = Traders(platform)
    prices: dict[str, tuple[int, int, int]] = {}
    pending: list[Pending] = []
    for n, (cluster_id, who, side, wh, bps) in enumerate(BOOK, start=1):
        user = await traders.get(who)
        if user is None:
            continue
        operation = f"demo-mkt:{day}:{n}"
        try:
            await platform.orders.order_for(user, operation)
            continue  # placed already
        except OrderNotFound:
            pass
        if cluster_id not in prices:
            posted = await platform.prices.current(cluster_id)
            prices[cluster_id] = (posted.price, posted.tariff.floor, posted.tariff.cap)
        price, floor, cap = prices[cluster_id]
        limit = min(max(price * (BPS + bps) // BPS, floor), cap)
        pending.append(Pending(operation, cluster_id, user, side, wh, limit))
    return pending


async def fund(platform: Platform, orders: Sequence[Pending], day: str) -> None:
    """Money for each buyer's bids, energy for each seller's asks (bought from the cluster), if short."""
    fee_bps = platform.prices.market.fee_bps
    people = {o.user.id: o.user for o in orders}
    for user in people.values():
        mine = [o for o in orders if o.user.id == user.id]
        balances = await platform.wallet.balances(user)
        selling = sum(o.wh for o in mine if o.side is SELL)
        short_wh = max(selling - balances.wh, 0)
        stock_from = next((o.cluster_id for o in mine if o.side is SELL), "")
        stock_cost = 0
        if short_wh:
            view = await platform.clusters.get(stock_from)
            stock_cost = cost_of_energy(short_wh, view.cluster.price_ngwee_per_kwh)
        bids = sum(buy_reservation(o.wh, o.price, fee_bps) for o in mine if o.side is BUY)
        short_ngwee = max(bids + stock_cost - balances.ngwee, 0)
        if short_ngwee:
            amount = -(-short_ngwee // 1_000) * 1_000 + 1_000  # whole Kwacha tens, with some to spare
            tag = f"{day}-{user.phone[4:]}-{amount}"
            payment = (
                await platform.payments.deposit(
                    user, amount, provider=Provider.ZAMTEL, operation_id=f"dep-demo-mkt-{tag}"
                )
            ).payment
            for _ in range(5):
                if payment.final:
                    break
                payment = await platform.payments.advance(payment)
        if short_wh:
            await platform.clusters.buy(
                buyer=user, cluster_id=stock_from, wh=short_wh, operation_id=f"demo-mkt:{day}:stock:{user.phone[4:]}"
            )


async def proofs(platform: Platform, users: Sequence[User], threads: int) -> dict[int, PinProof]:
    """Each user's PIN checked, no more at once than the KDF threads (so none queues past PIN_MAX_WAIT_MS)."""
    gate = asyncio.Semaphore(threads)

    async def one(user: User) -> PinProof:
        async with gate:
            return await platform.users.verify_pin(user, DEMO_PIN)

    checked = await asyncio.gather(*(one(u) for u in users))
    return {u.id: proof for u, proof in zip(users, checked, strict=True)}


async def place_book(platform: Platform, now_us: int, threads: int) -> tuple[int, int]:
    """Today's demo orders that are not on the books yet: (orders placed, trades they made)."""
    pending = await todays_orders(platform, now_us)
    if not pending:
        return 0, 0
    await fund(platform, pending, local_text(now_us, platform.config.local_utc_offset_s, "%Y%m%d"))
    users = list({o.user.id: o.user for o in pending}.values())
    checked = await proofs(platform, users, threads)
    placed = trades = 0
    for o in pending:
        try:
            placement = await platform.orders.place(
                checked[o.user.id], o.user, o.cluster_id, o.side, o.wh, o.price,
                good_for_day=True, operation_id=o.operation_id,
            )  # fmt: skip
        except EnerlectraError as exc:  # a demo user someone has played with (PIN locked, money spent)
            log.warning("demo market: %s's order in %s not placed: %s", o.user.name, o.cluster_id, exc)
            continue
        placed += not placement.replayed
        trades += len(placement.trades)
    return placed, trades


# --- the whole of it -----------------------------------------------------------------------------


async def seed_markets(settings: Settings, cluster_ids: Sequence[str], *, now_us: int | None = None) -> dict[str, int]:
    """Price history for ``cluster_ids`` (those that exist) and today's Lusaka book: what was made."""
    made = {"price_rows": 0, "orders": 0, "trades": 0}
    if settings.database_url == "memory:":  # another platform would open another, empty, database
        return made
    now = SystemClock().now_us() if now_us is None else now_us
    threads = usable_cores()
    pool = kdf_pool_for_this_machine(threads)
    try:
        # One moment for all of it: the history's last slot is the one the orders see. No receipts.
        platform = await open_platform(
            settings, hasher=pool, clock=ManualClock(now), providers=InstantProviders(), bus=EventBus()
        )
        try:
            existing = {v.cluster.id for v in await platform.clusters.list()}
            for cluster_id in cluster_ids:
                if cluster_id in existing:
                    made["price_rows"] += await write_history(platform, cluster_id, now)
            made["orders"], made["trades"] = await place_book(platform, now, threads)
        finally:
            await platform.close()
    finally:
        pool.close()
    if any(made.values()):
        log.info(
            "demo market: %d price rows (%d days per cluster), %d orders, %d trades",
            made["price_rows"],
            HISTORY_DAYS,
            made["orders"],
            made["trades"],
        )
    return made
