"""A cluster's posted price per slot, its history, quotes, and purchases that pay exactly a quote.

A slot's price is posted once, by whoever needs it first (a screen, an order,
the slot job), and never changes afterwards: what a quote, a chart or
``prices explain`` shows for a slot is what is stored for it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from engine.energy.clusters import ClusterView, PurchaseReceipt, purchase
from engine.energy.events import EnergyBought
from engine.energy.model import Cluster
from engine.identity.model import PinProof, User
from engine.identity.users import UserService, check_outflow
from engine.kernel.clock import MICROS_PER_SECOND, Clock
from engine.kernel.config import EngineConfig
from engine.kernel.errors import (
    AmountNotPositive,
    AmountTooSmall,
    ClusterNotFound,
    PinNotVerified,
    UserNotFound,
)
from engine.kernel.local_time import local_day_start_us, local_text
from engine.kernel.references import reference_for
from engine.kernel.units import cost_of_energy
from engine.ledger.operations import apply_operation, new_operation_id
from engine.markets.config import MarketConfig
from engine.markets.errors import InvalidTariff, QuoteExpired, QuoteNotFound, QuoteUsed
from engine.markets.grid import Savings, grid_tariff_at, savings
from engine.markets.history import PriceSummary, candles, summarise
from engine.markets.model import Quote, SlotPrice, Tariff, TouPeriod
from engine.markets.months import month_key
from engine.markets.ports import MarketReads, MarketUnit, MarketUnits
from engine.markets.pricing import (
    Conditions,
    PriceExplanation,
    default_tariff,
    lifeline_price,
    local_minute,
    period_at,
    price_for_slot,
    slot_start_us,
    validate_tariff,
)

SLOT_JOB = "market.slot"


@dataclass(frozen=True, slots=True)
class PostedPrice:
    cluster: Cluster
    slot: SlotPrice
    tariff: Tariff

    @property
    def price(self) -> int:
        return self.slot.price


@dataclass(frozen=True, slots=True)
class Explained:
    posted: PostedPrice
    explanation: PriceExplanation


class PriceService:
    def __init__(
        self, units: MarketUnits, config: EngineConfig, market: MarketConfig, clock: Clock, users: UserService
    ) -> None:
        self._units = units
        self._config = config
        self._market = market
        self._clock = clock
        self._users = users

    @property
    def market(self) -> MarketConfig:
        return self._market

    # --- tariffs ------------------------------------------------------------------
    async def tariff(self, cluster_id: str, *, at_us: int | None = None) -> Tariff:
        cluster = await _cluster(self._units.reads, cluster_id)
        at = self._clock.now_us() if at_us is None else at_us
        return await self._units.reads.markets.tariff_for(cluster_id, at_us=at) or default_tariff(cluster, self._market)

    async def tariffs(self, cluster_id: str) -> list[Tariff]:
        await _cluster(self._units.reads, cluster_id)
        return await self._units.reads.markets.tariffs(cluster_id)

    async def set_tariff(
        self,
        cluster_id: str,
        *,
        base: int,
        floor: int,
        cap: int,
        periods: tuple[TouPeriod, ...],
        lifeline_wh: int,
        source: str,
        source_date: str,
        effective_from_us: int | None = None,
    ) -> Tariff:
        """Add an effective-dated tariff (from now, or from a given moment); earlier slots keep their prices."""
        tariff = Tariff(
            cluster_id=cluster_id,
            effective_from_us=self._clock.now_us() if effective_from_us is None else effective_from_us,
            base=base,
            floor=floor,
            cap=cap,
            periods=periods,
            lifeline_wh=lifeline_wh,
            source=source.strip(),
            source_date=source_date.strip(),
        )
        wrong = validate_tariff(tariff)
        if wrong is not None:
            raise InvalidTariff("tariff is not usable", field=wrong)

        async def work(uow: MarketUnit) -> Tariff:
            if await uow.clusters.cluster_by_id(cluster_id) is None:
                raise ClusterNotFound("no such cluster", cluster_id=cluster_id)
            if not await uow.markets.insert_tariff(tariff):
                raise InvalidTariff("a tariff starts at that moment already", field="effective_from")
            return tariff

        return await self._units.run(work)

    # --- the posted price ------------------------------------------------------------
    async def current(self, cluster_id: str) -> PostedPrice:
        """The price of the slot now (posted by this call if nobody has yet)."""
        now = self._clock.now_us()
        slot = slot_start_us(now, self._market.slot_s)
        reads = self._units.reads
        cluster = await _cluster(reads, cluster_id)
        stored = await reads.markets.slot_price(cluster_id, slot)
        if stored is not None:
            tariff = await reads.markets.tariff_for(cluster_id, at_us=slot) or default_tariff(cluster, self._market)
            return PostedPrice(cluster, stored, tariff)
        return await self._units.run(lambda uow: self.post(uow, cluster, slot))

    async def post(self, uow: MarketUnit, cluster: Cluster, slot: int) -> PostedPrice:
        """The slot's price row, computing and storing it first if it is missing (inside ``uow``)."""
        markets = uow.markets
        tariff = await markets.tariff_for(cluster.id, at_us=slot) or default_tariff(cluster, self._market)
        stored = await markets.slot_price(cluster.id, slot)
        if stored is not None:
            return PostedPrice(cluster, stored, tariff)
        latest = await markets.latest_slot_price(cluster.id, at_or_before_us=slot)
        slot_us = self._market.slot_s * MICROS_PER_SECOND
        explanation = price_for_slot(
            tariff,
            await self._conditions(uow, cluster),
            slot_start=slot,
            previous=latest.price if latest else 0,
            slots_since=(slot - latest.slot_start_us) // slot_us if latest else 0,
            config=self._market,
            offset_s=self._config.local_utc_offset_s,
        )
        p = explanation.price
        row = SlotPrice(cluster.id, slot, p, explanation.components(), p, p, p, p, 0, 0)
        if not await markets.insert_slot_price(row):
            row = await markets.slot_price(cluster.id, slot) or row
        if latest is None:  # the cluster's market comes alive: its slot job keeps the history going
            await uow.jobs.schedule_job(SLOT_JOB, cluster.id, due_at_us=slot + slot_us, payload={})
        return PostedPrice(cluster, row, tariff)

    async def _conditions(self, uow: MarketUnit, cluster: Cluster) -> Conditions:
        pools = await uow.ledger.lookup_accounts([cluster.pool_account_id])
        pool = pools.get(cluster.pool_account_id)
        view = ClusterView(cluster, pool.available if pool else 0)
        buy_wh, sell_wh = await uow.markets.open_interest(cluster.id, now_us=self._clock.now_us())
        return Conditions(view.utilisation_permille, buy_wh, sell_wh)

    async def explain(self, cluster_id: str) -> Explained:
        """The current price and each of its components, as stored with the slot."""
        posted = await self.current(cluster_id)
        c = posted.slot.components
        period = period_at(posted.tariff, local_minute(posted.slot.slot_start_us, self._config.local_utc_offset_s))
        explanation = PriceExplanation(
            base=c.get("base", posted.tariff.base),
            period=period.name if period else "",
            period_bps=c.get("period_bps", 10_000),
            utilisation_permille=c.get("utilisation_permille", 0),
            utilisation_bps=c.get("utilisation_bps", 0),
            buy_wh=c.get("buy_wh", 0),
            sell_wh=c.get("sell_wh", 0),
            imbalance_bps=c.get("imbalance_bps", 0),
            target=c.get("target", posted.price),
            previous=c.get("previous", 0),
            slots_since=c.get("slots_since", 0),
            price=posted.price,
            floor=c.get("floor", posted.tariff.floor),
            cap=c.get("cap", posted.tariff.cap),
        )
        return Explained(posted, explanation)

    # --- history ---------------------------------------------------------------------
    async def summary(self, cluster_id: str) -> tuple[PostedPrice, PriceSummary]:
        """Today's price, range, trend, volatility and advice: one screen."""
        posted = await self.current(cluster_id)
        slot_us = self._market.slot_s * MICROS_PER_SECOND
        now_slot = posted.slot.slot_start_us
        # a day more than the advice's week: the weekly volatility needs 169 hourly closes
        window = self._market.advice_window_slots + 24 * 3600 // self._market.slot_s
        rows = await self._units.reads.markets.price_series(
            cluster_id, from_us=now_slot - window * slot_us, to_us=now_slot, limit=window + 1
        )
        day_start = local_day_start_us(self._clock.now_us(), self._config.local_utc_offset_s)
        summary = summarise(
            [*rows, posted.slot],
            price=posted.price,
            now_slot_us=now_slot,
            slot_us=slot_us,
            day_start_us=day_start,
            config=self._market,
        )
        return posted, summary

    async def series(self, cluster_id: str, *, from_us: int, to_us: int, bucket_slots: int = 1) -> list[SlotPrice]:
        """Open, high, low, close and volume per slot (or per ``bucket_slots`` slots), oldest first."""
        await _cluster(self._units.reads, cluster_id)
        rows = await self._units.reads.markets.price_series(cluster_id, from_us=from_us, to_us=to_us, limit=5000)
        if bucket_slots <= 1:
            return rows
        return candles(
            rows,
            bucket_slots,
            slot_us=self._market.slot_s * MICROS_PER_SECOND,
            offset_s=self._config.local_utc_offset_s,
        )

    # --- quotes and purchases ------------------------------------------------------------
    async def quote(self, user: User, cluster_id: str, wh: int) -> Quote:
        """A short-lived price for ``wh`` from a cluster, the month's lifeline allowance first."""
        if wh <= 0:
            raise AmountNotPositive("energy must be positive")
        now = self._clock.now_us()
        month = month_key(now, self._config.local_utc_offset_s)

        async def work(uow: MarketUnit) -> Quote:
            cluster = await uow.clusters.cluster_by_id(cluster_id)
            if cluster is None:
                raise ClusterNotFound("no such cluster", cluster_id=cluster_id)
            posted = await self.post(uow, cluster, slot_start_us(now, self._market.slot_s))
            used = await uow.markets.monthly_energy(user.id, month)
            allowance = max(posted.tariff.lifeline_wh - used.lifeline_wh, 0)
            lifeline_wh = min(wh, allowance)
            low = lifeline_price(posted.tariff, posted.price)
            cost = cost_of_energy(lifeline_wh, low) + cost_of_energy(wh - lifeline_wh, posted.price)
            if cost == 0:
                raise AmountTooSmall("too little energy to charge for", wh=wh)
            quote = Quote(
                id="q-" + secrets.token_hex(8),
                user_id=user.id,
                cluster_id=cluster_id,
                wh=wh,
                price=posted.price,
                lifeline_wh=lifeline_wh,
                lifeline_price=low,
                cost_ngwee=cost,
                slot_start_us=posted.slot.slot_start_us,
                created_at_us=now,
                expires_at_us=now + self._market.quote_ttl_s * MICROS_PER_SECOND,
            )
            await uow.markets.insert_quote(quote)
            return quote

        return await self._units.run(work)

    async def buy(
        self,
        proof: PinProof,
        user: User,
        quote_id: str,
        *,
        operation_id: str | None = None,
        cluster_id: str | None = None,
    ) -> PurchaseReceipt:
        """Pay exactly what the quote said; an expired quote is refused so the caller can quote again.

        ``cluster_id``: the cluster the caller means to buy from; a quote of another is not found.
        """
        if not self._users.proof_is_valid(proof, user):
            raise PinNotVerified("a purchase needs the buyer's PIN")
        operation = operation_id or new_operation_id()
        reference = reference_for(operation)

        async def work(uow: MarketUnit) -> PurchaseReceipt:
            quote = await uow.markets.quote_by_id(quote_id)
            if quote is None or quote.user_id != user.id or cluster_id not in (None, quote.cluster_id):
                raise QuoteNotFound("no such quote")
            if quote.used_by and quote.used_by != operation:
                raise QuoteUsed("quote paid already", reference=reference_for(quote.used_by))
            now = self._clock.now_us()
            if not quote.used_by and now >= quote.expires_at_us:
                raise QuoteExpired("quote expired: ask for a new price")
            cluster = await uow.clusters.cluster_by_id(quote.cluster_id)
            buyer = await uow.users.user_by_id(user.id)
            if cluster is None or buyer is None:
                raise UserNotFound("buyer or cluster gone")
            check_outflow(buyer, now, self._config.local_utc_offset_s)
            transfers, refusal = purchase(operation, cluster, buyer, quote.wh, quote.cost_ngwee, reference)
            replayed = await apply_operation(uow.ledger, transfers, refusal)
            if not replayed:
                if not await uow.markets.use_quote(quote.id, operation):
                    raise QuoteUsed("quote paid already")
                month = month_key(now, self._config.local_utc_offset_s)
                await uow.markets.add_monthly_energy(
                    buyer.id, month, wh=quote.wh, ngwee=quote.cost_ngwee, lifeline_wh=quote.lifeline_wh
                )
                uow.record(
                    EnergyBought(
                        operation_id=operation,
                        at_us=now,
                        buyer=buyer,
                        cluster=cluster,
                        wh=quote.wh,
                        cost_ngwee=quote.cost_ngwee,
                        reference=reference,
                    )
                )
            return PurchaseReceipt(
                reference, cluster.id, cluster.name, quote.wh, quote.price, quote.cost_ngwee, replayed
            )

        return await self._units.run(work)

    async def savings(self, user: User) -> Savings:
        """This month's energy against what ZESCO's residential bands would have charged for it."""
        now, offset = self._clock.now_us(), self._config.local_utc_offset_s
        month = await self._units.reads.markets.monthly_energy(user.id, month_key(now, offset))
        return savings(month, grid_tariff_at(local_text(now, offset, "%Y-%m-%d")))

    async def forget_quotes(self, *, limit: int = 1000) -> int:
        """Drop quotes that expired over a day ago (a purchase keeps its own record in the ledger)."""
        before = self._clock.now_us() - 24 * 3600 * MICROS_PER_SECOND
        return await self._units.run(lambda uow: uow.markets.forget_quotes(expired_before_us=before, limit=limit))


async def _cluster(reads: MarketReads, cluster_id: str) -> Cluster:
    cluster = await reads.clusters.cluster_by_id(cluster_id)
    if cluster is None:
        raise ClusterNotFound("no such cluster", cluster_id=cluster_id)
    return cluster
