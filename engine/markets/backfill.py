"""Price history written in bulk: the rows posting each slot in turn would have stored, under given conditions.

:meth:`PriceService.post <engine.markets.prices.PriceService.post>` stores one slot
per transaction as time passes. Weeks of history at once (the demo's, or an
import) would take tens of thousands of commits that way, so :func:`backfill`
computes the same rows without a database: each slot's price from the formula
under that slot's :class:`~engine.markets.pricing.Conditions`, with the row
before it (stored or just computed) as ``previous`` and the slots between them
as ``slots_since``, exactly as ``post`` does. Its trades fold into the row's
open, high, low, close and volume as ``record_slot_trade`` folds them.
:class:`HistoryWriter` then stores the rows a few thousand per transaction.

A slot that has a row already keeps it (a posted price never changes): the
rows after it follow on from its price.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.kernel.clock import MICROS_PER_SECOND
from engine.kernel.errors import ClusterNotFound
from engine.markets.config import MarketConfig
from engine.markets.model import SlotPrice, Tariff
from engine.markets.ports import MarketUnit, MarketUnits
from engine.markets.prices import SLOT_JOB
from engine.markets.pricing import BPS, Conditions, default_tariff, price_for_slot


@dataclass(frozen=True, slots=True)
class PastSlot:
    """One slot to write: the cluster's state when its price was posted, and the trades in it."""

    slot_start_us: int
    conditions: Conditions
    # (price against the posted one in basis points, Wh) of each trade, in the order they happened
    trades: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class BackfilledSlot:
    row: SlotPrice  # as stored once its trades are recorded
    fills: tuple[tuple[int, int], ...]  # (price, Wh) of its trades, in order: what record_slot_trade is given


def tariff_in_force(tariffs: Sequence[Tariff], fallback: Tariff) -> Callable[[int], Tariff]:
    """The tariff at a moment, as ``tariff_for(...) or default_tariff(...)`` reads it (``tariffs`` oldest first)."""
    ordered = sorted(tariffs, key=lambda t: t.effective_from_us)

    def at(slot_us: int) -> Tariff:
        found = fallback
        for tariff in ordered:
            if tariff.effective_from_us > slot_us:
                break
            found = tariff
        return found

    return at


def backfill(
    cluster_id: str,
    slots: Sequence[PastSlot],
    *,
    tariff_at: Callable[[int], Tariff],
    config: MarketConfig,
    offset_s: int,
    existing: Sequence[SlotPrice] = (),
) -> list[BackfilledSlot]:
    """The rows of ``slots`` (oldest first, one per slot) that ``existing`` does not have yet.

    ``existing`` are the cluster's stored rows from the latest one before the first slot on
    (any order): a slot among them is skipped, and the slots after it follow on from its price.
    """
    slot_us = config.slot_s * MICROS_PER_SECOND
    stored = sorted(existing, key=lambda r: r.slot_start_us)
    made: list[BackfilledSlot] = []
    latest: SlotPrice | None = None
    i = 0
    for n, past in enumerate(slots):
        start = past.slot_start_us
        if start % slot_us or (n and start <= slots[n - 1].slot_start_us):
            raise ValueError("slots must be slot starts, oldest first, one each")
        while i < len(stored) and stored[i].slot_start_us <= start:
            latest, i = stored[i], i + 1
        if latest is not None and latest.slot_start_us == start:
            continue  # posted already: it stays as it is
        tariff = tariff_at(start)
        explanation = price_for_slot(
            tariff,
            past.conditions,
            slot_start=start,
            previous=latest.price if latest else 0,
            slots_since=(start - latest.slot_start_us) // slot_us if latest else 0,
            config=config,
            offset_s=offset_s,
        )
        fills = tuple((_traded_at(explanation.price, bps, tariff), wh) for bps, wh in past.trades)
        latest = _row(cluster_id, start, explanation.price, explanation.components(), fills)
        made.append(BackfilledSlot(latest, fills))
    return made


def _traded_at(price: int, offset_bps: int, tariff: Tariff) -> int:
    moved = price * (BPS + offset_bps)
    rounded = (moved * 2 + BPS) // (2 * BPS) if moved >= 0 else 0  # half up, as the formula rounds
    return min(max(rounded, tariff.floor), tariff.cap)


def _row(
    cluster_id: str, start: int, price: int, components: dict[str, int], fills: tuple[tuple[int, int], ...]
) -> SlotPrice:
    if any(wh <= 0 for _, wh in fills):
        raise ValueError("a trade moves some energy")
    if not fills:
        return SlotPrice(cluster_id, start, price, components, price, price, price, price, 0, 0)
    prices = [p for p, _ in fills]
    volume = sum(wh for _, wh in fills)
    return SlotPrice(
        cluster_id, start, price, components, prices[0], max(prices), min(prices), prices[-1], volume, len(fills)
    )


class HistoryWriter:
    """Stores backfilled history through the market's units of work, many rows per transaction."""

    def __init__(self, units: MarketUnits, market: MarketConfig, *, offset_s: int) -> None:
        self._units = units
        self._market = market
        self._offset_s = offset_s

    async def write(self, cluster_id: str, slots: Sequence[PastSlot], *, per_transaction: int = 2_500) -> int:
        """Store the rows of ``slots`` the cluster has not got yet; how many were stored.

        A cluster whose market had no price before gets its slot job (as its first posted
        price would), due when the last slot written ends.
        """
        if not slots:
            return 0
        if per_transaction <= 0:
            raise ValueError("per_transaction must be positive")
        reads = self._units.reads
        cluster = await reads.clusters.cluster_by_id(cluster_id)
        if cluster is None:
            raise ClusterNotFound("no such cluster", cluster_id=cluster_id)
        slot_us = self._market.slot_s * MICROS_PER_SECOND
        first, last = slots[0].slot_start_us, slots[-1].slot_start_us
        before = await reads.markets.latest_slot_price(cluster_id, at_or_before_us=first - 1)
        stored = await reads.markets.price_series(
            cluster_id, from_us=first, to_us=last + 1, limit=(last - first) // slot_us + 2
        )
        existing = [before, *stored] if before is not None else stored
        tariffs = tariff_in_force(await reads.markets.tariffs(cluster_id), default_tariff(cluster, self._market))
        made = backfill(
            cluster_id, slots, tariff_at=tariffs, config=self._market, offset_s=self._offset_s, existing=existing
        )
        alive = bool(existing)
        written = 0
        for start in range(0, len(made), per_transaction):
            chunk = made[start : start + per_transaction]
            closing = start + per_transaction >= len(made)

            async def work(
                uow: MarketUnit, chunk: list[BackfilledSlot] = chunk, closing: bool = closing, so_far: int = written
            ) -> int:
                n = 0
                for item in chunk:
                    row = item.row
                    if not await uow.markets.insert_slot_price(row):
                        continue  # posted meanwhile: that one stays
                    n += 1
                    for price, wh in item.fills:
                        await uow.markets.record_slot_trade(cluster_id, row.slot_start_us, price=price, wh=wh)
                if closing and not alive and so_far + n:  # the market comes alive: its slot job goes on
                    due = chunk[-1].row.slot_start_us + slot_us
                    await uow.jobs.schedule_job(SLOT_JOB, cluster_id, due_at_us=due, payload={})
                return n

            written += await self._units.run(work)
        return written
