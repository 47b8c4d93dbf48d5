"""Business settings the engine needs, as a plain value (built by ussd_server.settings).

These defaults are the product's defaults, declared here only: the engine
cannot import the server, so ``ussd_server.settings`` takes each of its
engine-facing defaults from an ``EngineConfig()`` (converting seconds to the
minutes or hours its variables are written in), and engine tests can build
``EngineConfig()`` without the server.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Published in the source, so it protects nothing: production refuses to start with it (ussd_server.settings).
DEV_PIN_PEPPER = b"dev-only-pepper-do-not-use-in-production"


@dataclass(frozen=True, slots=True)
class EngineConfig:
    # Secret mixed into every PIN hash; a stolen database alone cannot be brute-forced.
    pin_pepper: bytes = field(repr=False, default=DEV_PIN_PEPPER)
    # scrypt cost as log2(N); 14 is ~16 MiB and tens of milliseconds per check.
    pin_kdf_log2_n: int = 14
    # Longest a PIN check may expect to queue for a KDF thread before it is
    # refused as busy (None: no bound). The gateway drops a hop after ~10-15 s.
    pin_max_wait_ms: int | None = 8000
    # The same for a caller whose previous PIN was refused as busy: under a
    # sustained burst, callers who try again are served before newcomers.
    pin_retry_max_wait_ms: int | None = 9000
    pin_max_failures: int = 3
    # How long each successive lock lasts; after the last stage, locked until an operator resets the PIN.
    pin_lock_stages_s: tuple[int, ...] = (30 * 60, 24 * 3600)
    # After an operator PIN reset nothing may leave the wallet for this long (a SIM-swap pattern).
    reset_hold_s: int = 24 * 3600
    # Daily caps per user (a day in local time): gifts, sale offers, lookups of another number.
    gifts_per_day: int = 10
    offers_per_day: int = 10
    lookups_per_day: int = 20
    min_transfer_wh: int = 100  # the smallest gift or offer (0.1 kWh)
    max_open_offers_per_pair: int = 3  # open offers from one seller to one buyer
    sms_daily_cap: int = 10  # non-security SMS per recipient a day; the rest fold into one summary
    local_utc_offset_s: int = 2 * 3600  # Zambia: CAT, UTC+2, no daylight saving
    starting_credit_ngwee: int = 500  # K5.00 from the promotions account
    starting_credits_per_day: int = 500  # new users given it a day, platform-wide
    platform_price_ngwee_per_kwh: int = 120  # the spec's K1.20 per kWh
    trade_fee_bps: int = 0  # platform fee on P2P trades, paid by the buyer
    offer_ttl_s: int = 24 * 3600  # how long a buyer has to accept an energy offer
    carbon_g_per_kwh: int = 800  # spec: 0.8 kg CO2 displaced per renewable kWh (diesel-like)
    tree_g_co2: int = 60_000  # one tree seedling grown for 10 years
    car_g_co2_per_mile: int = 400
    max_batch: int = 1000
    history_page_size: int = 5
