"""The market as the API shows it: posted prices and why, history, quotes, the book, orders, trades, savings."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from engine.identity.model import User
from engine.kernel.clock import MICROS_PER_SECOND
from engine.markets.grid import Savings
from engine.markets.history import PriceSummary
from engine.markets.model import Order, Quote, SlotPrice, Tariff, Trade
from engine.markets.months import month_iso
from engine.markets.orders import Depth, Placement
from engine.markets.prices import Explained
from engine.markets.pricing import PriceExplanation
from ussd_server.api.models.common import Money, Price, View, at
from ussd_server.api.models.markets import OrderStateText, SideText, clock_time

TrendText = Literal["up", "down", "flat"]
AdviceText = Literal["buy", "sell", "none"]
AdviceReasonText = Literal["below_median", "above_median", "near_median", "too_little_data"]
ReasonText = Literal["", "user", "expired", "self_trade"]


class TouPeriodView(View):
    name: str
    start: str = Field(description="local time (CAT), HH:MM")
    end: str = Field(description="before `start` when the period runs past midnight")
    factor_bps: int = Field(description="10,000 = the base price")


class TariffView(View):
    """A cluster's price rules from `effective_from` on, with where its figures come from."""

    cluster_id: str
    effective_from: datetime | None = Field(description="null: the platform default, in force until a tariff is set")
    base: Price
    floor: Price
    cap: Price
    lifeline_wh: int = Field(description="a household's monthly energy at the base price (or less), never surged")
    periods: list[TouPeriodView]
    source: str
    source_date: str | None = Field(description="ISO date of the source; null for the platform default")

    @classmethod
    def of(cls, tariff: Tariff) -> TariffView:
        return cls(
            cluster_id=tariff.cluster_id,
            effective_from=at(tariff.effective_from_us) if tariff.effective_from_us else None,
            base=Price.of(tariff.base),
            floor=Price.of(tariff.floor),
            cap=Price.of(tariff.cap),
            lifeline_wh=tariff.lifeline_wh,
            periods=[
                TouPeriodView(
                    name=p.name, start=clock_time(p.start_minute), end=clock_time(p.end_minute), factor_bps=p.factor_bps
                )
                for p in tariff.periods
            ],
            source=tariff.source,
            source_date=tariff.source_date or None,
        )


class PriceComponents(View):
    """Each step of the formula, in the order it applies (docs/markets.md)."""

    base: Price = Field(description="the tariff's base price")
    period: str | None = Field(description="the time-of-use period of the slot (`midday`, `peak`...); null: none")
    period_factor_bps: int = Field(description="its factor: 10,000 = the base price")
    utilisation_permille: int = Field(description="share of the cluster's pool sold, in tenths of a percent")
    utilisation_bps: int = Field(description="how much that moves the price (signed basis points)")
    open_buy_wh: int = Field(description="energy wanted by open buy orders")
    open_sell_wh: int = Field(description="energy offered by open sell orders")
    imbalance_bps: int = Field(description="how much the open orders move the price (signed basis points)")
    target: Price = Field(description="base x period x (1 + utilisation + imbalance)")
    previous: Price | None = Field(description="the last posted price; null: the first, posted at the target")
    slots_since: int = Field(description="slots since the previous price: each moves part of the way to the target")
    floor: Price
    cap: Price
    bounded: bool = Field(description="the price sits on the floor or the cap")

    @classmethod
    def of(cls, e: PriceExplanation) -> PriceComponents:
        return cls(
            base=Price.of(e.base),
            period=e.period or None,
            period_factor_bps=e.period_bps,
            utilisation_permille=e.utilisation_permille,
            utilisation_bps=e.utilisation_bps,
            open_buy_wh=e.buy_wh,
            open_sell_wh=e.sell_wh,
            imbalance_bps=e.imbalance_bps,
            target=Price.of(e.target),
            previous=Price.of(e.previous) if e.previous else None,
            slots_since=e.slots_since,
            floor=Price.of(e.floor),
            cap=Price.of(e.cap),
            bounded=e.bounded,
        )


class CurrentPrice(View):
    cluster_id: str
    cluster_name: str
    price: Price = Field(description="posted for the current slot; it never changes within the slot")
    slot_start: datetime
    slot_end: datetime
    components: PriceComponents
    tariff: TariffView

    @classmethod
    def of(cls, explained: Explained, slot_s: int) -> CurrentPrice:
        posted = explained.posted
        start = posted.slot.slot_start_us
        return cls(
            cluster_id=posted.cluster.id,
            cluster_name=posted.cluster.name,
            price=Price.of(posted.price),
            slot_start=at(start),
            slot_end=at(start + slot_s * MICROS_PER_SECOND),
            components=PriceComponents.of(explained.explanation),
            tariff=TariffView.of(posted.tariff),
        )


class Candle(View):
    """One slot (or bucket of slots): the posted price, and what traded in the book."""

    start: datetime
    price: Price = Field(description="the (last) posted price")
    open: Price
    high: Price
    low: Price
    close: Price
    volume_wh: int
    trades: int

    @classmethod
    def of(cls, row: SlotPrice) -> Candle:
        return cls(
            start=at(row.slot_start_us),
            price=Price.of(row.price),
            open=Price.of(row.open or row.price),
            high=Price.of(row.high or row.price),
            low=Price.of(row.low or row.price),
            close=Price.of(row.close or row.price),
            volume_wh=row.volume_wh,
            trades=row.trades,
        )


class TrendView(View):
    direction: TrendText = Field(description="against the price 24 hours earlier; flat within 1%")
    change_bps: int
    previous: Price | None = Field(description="the price 24 hours earlier; null: no history that far back")


class AdviceView(View):
    """The one published rule: 15% or more below the week's median close, buy; 15% or more above, sell."""

    kind: AdviceText
    reason: AdviceReasonText
    median: Price | None = Field(description="the window's median close; null with too little history")
    diff_bps: int
    slots: int = Field(description="history slots the advice is based on")


class PriceSummaryView(View):
    cluster_id: str
    price: Price
    today_low: Price
    today_high: Price
    trend: TrendView
    volatility_day_bps: int | None = Field(description="of hourly closes over a day; null: too little history")
    volatility_week_bps: int | None
    advice: AdviceView

    @classmethod
    def of(cls, cluster_id: str, s: PriceSummary) -> PriceSummaryView:
        a, t = s.advice, s.trend
        return cls(
            cluster_id=cluster_id,
            price=Price.of(s.price),
            today_low=Price.of(s.low),
            today_high=Price.of(s.high),
            trend=TrendView(
                direction=t.direction,  # type: ignore[arg-type]  # history's constants are the literals
                change_bps=t.change_bps,
                previous=Price.of(t.previous) if t.previous else None,
            ),
            volatility_day_bps=s.volatility_day_bps,
            volatility_week_bps=s.volatility_week_bps,
            advice=AdviceView(
                kind=a.kind,  # type: ignore[arg-type]
                reason=a.reason,  # type: ignore[arg-type]
                median=Price.of(a.median) if a.median else None,
                diff_bps=a.diff_bps,
                slots=a.slots,
            ),
        )


class QuoteView(View):
    """A price held for a short while: buy with its id before `expires_at`, or ask for a new one."""

    id: str
    cluster_id: str
    energy_wh: int
    price: Price = Field(description="for the energy above the lifeline allowance")
    lifeline_wh: int = Field(description="of `energy_wh`, inside this month's lifeline allowance")
    lifeline_price: Price
    cost: Money = Field(description="exactly what the purchase will charge")
    slot_start: datetime
    expires_at: datetime

    @classmethod
    def of(cls, q: Quote) -> QuoteView:
        return cls(
            id=q.id,
            cluster_id=q.cluster_id,
            energy_wh=q.wh,
            price=Price.of(q.price),
            lifeline_wh=q.lifeline_wh,
            lifeline_price=Price.of(q.lifeline_price),
            cost=Money.of(q.cost_ngwee),
            slot_start=at(q.slot_start_us),
            expires_at=at(q.expires_at_us),
        )


class Level(View):
    price: Price
    energy_wh: int
    orders: int


class DepthView(View):
    cluster_id: str
    price: Price = Field(description="the cluster's posted price now")
    bids: list[Level] = Field(description="buy orders, best (highest) first")
    asks: list[Level] = Field(description="sell orders, best (lowest) first")

    @classmethod
    def of(cls, depth: Depth) -> DepthView:
        def levels(rows: list[tuple[int, int, int]]) -> list[Level]:
            return [Level(price=Price.of(p), energy_wh=wh, orders=n) for p, wh, n in rows]

        return cls(cluster_id=depth.cluster_id, price=Price.of(depth.price), bids=levels(depth.bids),
                   asks=levels(depth.asks))  # fmt: skip


class MarketTrade(View):
    """A fill in a cluster's book (who traded stays private)."""

    seq: int = Field(description="the cluster's trade number, in order")
    price: Price = Field(description="the resting order's price")
    energy_wh: int
    taker: SideText = Field(description="the side of the order that arrived and matched")
    slot_start: datetime = Field(description="the delivery slot")
    at: datetime

    @classmethod
    def of(cls, t: Trade) -> MarketTrade:
        return cls(seq=t.seq, price=Price.of(t.price), energy_wh=t.wh, taker=str(t.taker),  # type: ignore[arg-type]
                   slot_start=at(t.slot_start_us), at=at(t.at_us))  # fmt: skip


class MyTrade(MarketTrade):
    side: SideText = Field(description="yours: bought or sold")
    order_id: str
    amount: Money = Field(description="paid (fee apart) or received")
    fee: Money = Field(description="paid on top, by the buyer")

    @classmethod
    def mine(cls, t: Trade, user: User) -> MyTrade:
        buying = t.buyer_id == user.id
        return cls(
            **MarketTrade.of(t).model_dump(),
            side="buy" if buying else "sell",
            order_id=t.buy_order_id if buying else t.sell_order_id,
            amount=Money.of(t.buyer_paid_ngwee if buying else t.seller_received_ngwee),
            fee=Money.of(t.fee_ngwee if buying else 0),
        )


class OrderView(View):
    id: str
    reference: str = Field(description="on the SMS about it")
    cluster_id: str
    side: SideText
    price: Price = Field(description="the limit")
    energy_wh: int
    remaining_wh: int
    filled_wh: int
    state: OrderStateText
    reason: ReasonText = Field(description="why it closed early: `user` (cancelled), `expired`, `self_trade`")
    slot_start: datetime = Field(description="the delivery slot (good-for-day: the first it may fill in)")
    good_for_day: bool
    trade_until: datetime = Field(description="matched until this gate closure")
    expires_at: datetime = Field(description="what is left is released then")
    fills: int
    amount: Money = Field(description="what its fills paid (buy, fee apart) or received (sell)")
    fees: Money
    reserved: Money | None = Field(description="money a buy order holds now; null for a sell order")
    reserved_wh: int = Field(description="energy a sell order holds now (0 for a buy order)")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, o: Order) -> OrderView:
        buying = o.side == "buy"
        return cls(
            id=o.id, reference=o.reference, cluster_id=o.cluster_id, side=str(o.side),  # type: ignore[arg-type]
            price=Price.of(o.price), energy_wh=o.wh, remaining_wh=o.remaining_wh, filled_wh=o.filled_wh,
            state=str(o.state), reason=o.reason,  # type: ignore[arg-type]
            slot_start=at(o.slot_start_us), good_for_day=o.good_for_day, trade_until=at(o.trade_until_us),
            expires_at=at(o.expires_at_us), fills=o.fills, amount=Money.of(o.money_ngwee),
            fees=Money.of(o.fees_ngwee), reserved=Money.of(o.reserved) if buying else None,
            reserved_wh=0 if buying else o.reserved, created_at=at(o.created_at_us), updated_at=at(o.updated_at_us),
        )  # fmt: skip


class PlacedOrder(View):
    order: OrderView = Field(description="after matching: what filled at once, and what rests in the book")
    fills: list[MarketTrade] = Field(description="fills made on arrival, at the resting orders' prices")
    posted_price: Price | None = Field(
        description="the cluster's posted price when it was placed (null on a retry answered from the ledger)"
    )
    self_trade: bool = Field(
        description="it would have matched an order of your own: it was stopped there (what filled stays filled)"
    )

    @classmethod
    def of(cls, p: Placement) -> PlacedOrder:
        return cls(
            order=OrderView.of(p.order),
            fills=[MarketTrade.of(t) for t in p.trades],
            posted_price=Price.of(p.price) if p.price else None,
            self_trade=p.self_trade,
        )


class GridTariffView(View):
    effective_from: str
    source: str
    source_date: str


class SavingsView(View):
    """This month's energy against ZESCO's residential bands (energy charges only: VAT and excise apart)."""

    month: str = Field(description="the local month's first day", examples=["2026-01-01"])
    energy_wh: int
    paid: Money = Field(description="what you paid for it, fees included")
    grid: Money = Field(description="what ZESCO's bands would have charged")
    saved: Money = Field(description="grid - paid: negative when the market cost more")
    paid_more: bool
    grid_tariff: GridTariffView

    @classmethod
    def of(cls, s: Savings) -> SavingsView:
        return cls(
            month=month_iso(s.month),
            energy_wh=s.wh,
            paid=Money.of(s.paid_ngwee),
            grid=Money.of(s.grid_ngwee),
            saved=Money.of(s.saved_ngwee),
            paid_more=s.paid_more,
            grid_tariff=GridTariffView(
                effective_from=s.tariff_effective_from, source=s.tariff_source, source_date=s.tariff_source_date
            ),
        )
