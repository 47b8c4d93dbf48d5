"""Platform-wide market rules (a cluster's own price rules are its :class:`~engine.markets.model.Tariff`)."""

from __future__ import annotations

from dataclasses import dataclass

from engine.markets.model import TouPeriod

MINUTE_S = 60

# A solar mini-grid's day: the midday surplus is cheap, the evening battery peak
# (ZESCO's peak is 18:00-22:00) dear, the night runs on batteries.
SOLAR_PERIODS = (
    TouPeriod("midday", 10 * 60, 15 * 60, 8_000),
    TouPeriod("peak", 18 * 60, 22 * 60, 13_000),
    TouPeriod("night", 22 * 60, 6 * 60, 11_000),
)


@dataclass(frozen=True, slots=True)
class MarketConfig:
    slot_s: int = 15 * MINUTE_S  # delivery slot length; 5-60 minutes, dividing an hour
    gate_closure_s: int = 5 * MINUTE_S  # orders for a slot are matched until this long before it starts
    quote_ttl_s: int = 60  # inside one USSD screen's time
    max_open_orders_per_user: int = 10  # keeps "My orders" short on a phone
    min_order_wh: int = 100  # 0.1 kWh
    fee_bps: int = 0  # platform fee on market trades, paid by the buyer on top of the price
    # The dynamic price (docs/markets.md): how far utilisation and open interest move it, how fast.
    utilisation_weight_bps: int = 2_000  # +-20% between an empty and a sold-out pool
    imbalance_weight_bps: int = 1_500  # +-15% between only sellers and only buyers
    smoothing_permille: int = 300  # each slot moves 30% of the way to the target
    max_step_bps: int = 500  # and at most 5% per slot
    max_catch_up_slots: int = 96  # a day of missed slots is replayed at most
    # Defaults of a cluster with no tariff of its own, relative to its listed price.
    default_floor_bps: int = 7_500
    default_cap_bps: int = 15_000
    default_lifeline_wh: int = 2_000  # a month: what most village users draw in all
    default_periods: tuple[TouPeriod, ...] = SOLAR_PERIODS
    # Advice: compare the price with the median close of the last week's slots.
    advice_window_slots: int = 7 * 96
    advice_min_slots: int = 3 * 96  # less history than this: no advice
    advice_threshold_bps: int = 1_500
    page_size: int = 4  # orders per USSD page

    def __post_init__(self) -> None:
        if not 5 * MINUTE_S <= self.slot_s <= 60 * MINUTE_S or 3600 % self.slot_s:
            raise ValueError("slot_s must be 5-60 minutes and divide an hour")
        if not 0 <= self.gate_closure_s < self.slot_s * 4:
            raise ValueError("gate_closure_s must be 0 or more and under four slots")
