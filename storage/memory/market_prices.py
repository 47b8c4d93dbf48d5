"""The in-memory price history, quotes, tariffs, monthly energy and fill notices (engine.markets.ports).

The half of :class:`storage.memory.markets.MemoryMarkets` that is not the
order book, with the answers of storage.repositories.market_prices: a
slot's OHLC as record_slot_trade's statement keeps it, and a price's
components and a tariff's periods stored through JSON, so what reads back is
what a database would give.
"""

from __future__ import annotations

from dataclasses import replace

from engine.markets.model import FillNotice, MonthlyEnergy, Quote, SlotPrice, Tariff
from storage.market_tables import components_json, components_of, periods_json, periods_of
from storage.memory.ledger import ConstraintViolation
from storage.memory.tables import Tables


def check(ok: bool, what: str) -> None:
    """Raise what the schema's constraint would, unless ``ok``."""
    if not ok:
        raise ConstraintViolation(what)


def _stored_price(price: SlotPrice) -> SlotPrice:
    p = price
    check(p.price > 0 and min(p.volume_wh, p.trades) >= 0, f"price of {p.cluster_id!r} at {p.slot_start_us}: range")
    check(p.low <= min(p.open, p.close) and max(p.open, p.close) <= p.high, f"price of {p.cluster_id!r}: OHLC")
    return replace(p, components=components_of(components_json(p.components)))


def _copy_price(price: SlotPrice) -> SlotPrice:
    """As a read hands it out: the components are the caller's to change, never the table's."""
    return replace(price, components=dict(price.components))


class MemoryPrices:
    """engine.markets.ports.MarketWriter's history, quotes, tariffs, monthly energy and notices."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    # --- price history ------------------------------------------------------------

    async def slot_price(self, cluster_id: str, slot_start_us: int) -> SlotPrice | None:
        price = self._t.market_prices.get((cluster_id, slot_start_us))
        return _copy_price(price) if price is not None else None

    async def latest_slot_price(self, cluster_id: str, *, at_or_before_us: int) -> SlotPrice | None:
        found = [
            p
            for p in self._t.market_prices.values()
            if p.cluster_id == cluster_id and p.slot_start_us <= at_or_before_us
        ]
        return _copy_price(max(found, key=lambda p: p.slot_start_us)) if found else None

    async def price_series(self, cluster_id: str, *, from_us: int, to_us: int, limit: int = 2000) -> list[SlotPrice]:
        found = (
            p
            for p in self._t.market_prices.values()
            if p.cluster_id == cluster_id and from_us <= p.slot_start_us < to_us
        )
        return [_copy_price(p) for p in sorted(found, key=lambda p: p.slot_start_us)[: max(limit, 0)]]

    async def insert_slot_price(self, price: SlotPrice) -> bool:
        key = (price.cluster_id, price.slot_start_us)
        if key in self._t.market_prices:
            return False
        check(price.cluster_id in self._t.clusters, f"price of {price.cluster_id!r}: no such cluster")
        p = price.price
        self._t.market_prices.put(
            key, _stored_price(replace(price, open=p, high=p, low=p, close=p, volume_wh=0, trades=0))
        )
        return True

    async def record_slot_trade(self, cluster_id: str, slot_start_us: int, *, price: int, wh: int) -> None:
        key = (cluster_id, slot_start_us)
        current = self._t.market_prices.get(key)
        if current is None:
            return  # as the UPDATE: no row, nothing written
        first = current.trades == 0
        changed = replace(
            current,
            open=price if first else current.open,
            high=price if first else max(current.high, price),
            low=price if first else min(current.low, price),
            close=price,
            volume_wh=current.volume_wh + wh,
            trades=current.trades + 1,
        )
        self._t.market_prices.put(key, _stored_price(changed))

    # --- quotes, tariffs, monthly energy ------------------------------------------

    async def quote_by_id(self, quote_id: str) -> Quote | None:
        return self._t.market_quotes.get(quote_id)

    async def insert_quote(self, quote: Quote) -> None:
        q = quote
        check(q.id not in self._t.market_quotes, f"quote {q.id!r} exists")
        check(q.user_id in self._t.users, f"quote {q.id!r}: no user {q.user_id}")
        check(q.cluster_id in self._t.clusters, f"quote {q.id!r}: no cluster {q.cluster_id!r}")
        check(
            q.wh > 0 and 0 <= q.lifeline_wh <= q.wh and min(q.price, q.lifeline_price, q.cost_ngwee) >= 0,
            f"quote {q.id!r}: a number out of range",
        )
        self._t.market_quotes.put(q.id, q)

    async def forget_quotes(self, *, expired_before_us: int, limit: int) -> int:
        expired = sorted(
            (q for q in self._t.market_quotes.values() if q.expires_at_us < expired_before_us),
            key=lambda q: (q.expires_at_us, q.id),
        )[: max(limit, 0)]
        for q in expired:
            self._t.market_quotes.delete(q.id)
        return len(expired)

    async def use_quote(self, quote_id: str, operation_id: str) -> bool:
        quote = self._t.market_quotes.get(quote_id)
        if quote is None or quote.used_by not in ("", operation_id):
            return False
        self._t.market_quotes.put(quote_id, replace(quote, used_by=operation_id))
        return True

    async def tariff_for(self, cluster_id: str, *, at_us: int) -> Tariff | None:
        found = [
            t for t in self._t.market_tariffs.values() if t.cluster_id == cluster_id and t.effective_from_us <= at_us
        ]
        return max(found, key=lambda t: t.effective_from_us) if found else None

    async def tariffs(self, cluster_id: str) -> list[Tariff]:
        mine = (t for t in self._t.market_tariffs.values() if t.cluster_id == cluster_id)
        return sorted(mine, key=lambda t: t.effective_from_us)

    async def insert_tariff(self, tariff: Tariff) -> bool:
        t = tariff
        key = (t.cluster_id, t.effective_from_us)
        if key in self._t.market_tariffs:
            return False
        check(t.cluster_id in self._t.clusters, f"tariff of {t.cluster_id!r}: no such cluster")
        check(t.base > 0 and 0 <= t.floor <= t.cap and t.lifeline_wh >= 0, f"tariff of {t.cluster_id!r}: range")
        self._t.market_tariffs.put(key, replace(t, periods=periods_of(periods_json(t.periods))))
        return True

    async def monthly_energy(self, user_id: int, month: int) -> MonthlyEnergy:
        return self._t.market_monthly.get((user_id, month)) or MonthlyEnergy(user_id, month)

    async def add_monthly_energy(self, user_id: int, month: int, *, wh: int, ngwee: int, lifeline_wh: int) -> None:
        current = self._t.market_monthly.get((user_id, month))
        if current is None:
            check(user_id in self._t.users, f"monthly energy: no user {user_id}")
            check(1 <= month % 100 <= 12, f"monthly energy of {user_id}: month {month}")
            current = MonthlyEnergy(user_id, month)
        total = MonthlyEnergy(user_id, month, current.wh + wh, current.ngwee + ngwee, current.lifeline_wh + lifeline_wh)
        check(
            min(total.wh, total.ngwee, total.lifeline_wh) >= 0 and total.lifeline_wh <= total.wh,
            f"monthly energy of {user_id} in {month}: out of range",
        )
        self._t.market_monthly.put((user_id, month), total)

    # --- fill notices ---------------------------------------------------------------

    async def note_fill(
        self,
        user_id: int,
        cluster_id: str,
        slot_start_us: int,
        *,
        bought_wh: int,
        sold_wh: int,
        paid_ngwee: int,
        received_ngwee: int,
    ) -> FillNotice:
        key = (user_id, cluster_id, slot_start_us)
        current = self._t.market_notices.get(key)
        if current is None:
            check(user_id in self._t.users, f"fill notice: no user {user_id}")
            check(cluster_id in self._t.clusters, f"fill notice: no cluster {cluster_id!r}")
            current = FillNotice(user_id, cluster_id, slot_start_us)
        notice = replace(
            current,
            fills=current.fills + 1,
            bought_wh=current.bought_wh + bought_wh,
            sold_wh=current.sold_wh + sold_wh,
            paid_ngwee=current.paid_ngwee + paid_ngwee,
            received_ngwee=current.received_ngwee + received_ngwee,
        )
        check(
            min(notice.bought_wh, notice.sold_wh, notice.paid_ngwee, notice.received_ngwee) >= 0,
            f"fill notice of {user_id} in {cluster_id!r}: an amount below zero",
        )
        self._t.market_notices.put(key, notice)
        return notice

    async def mark_told(self, user_id: int, cluster_id: str, slot_start_us: int, told: int) -> None:
        key = (user_id, cluster_id, slot_start_us)
        current = self._t.market_notices.get(key)
        if current is None:
            return  # as the UPDATE: no row, nothing written
        check(0 <= told <= current.fills, f"fill notice of {user_id} in {cluster_id!r}: told {told}")
        self._t.market_notices.put(key, replace(current, told=told))

    async def notices_to_fold(self, cluster_id: str, *, slot_before_us: int, limit: int) -> list[FillNotice]:
        due = (
            n
            for n in self._t.market_notices.values()
            if n.cluster_id == cluster_id and n.slot_start_us < slot_before_us and n.fills > n.told
        )
        return sorted(due, key=lambda n: (n.slot_start_us, n.user_id))[: max(limit, 0)]
