"""The product's rules: PINs, money, energy, carbon and abuse limits.

Those the engine applies take their defaults from an ``EngineConfig()``, written
in the unit their variable uses: a default is declared once, in the engine.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel

from engine.kernel.config import EngineConfig
from ussd_server.settings.fields import COMMA_LIST, KWACHA, KWH, setting

ENGINE = EngineConfig()
DEV_PEPPER = ENGINE.pin_pepper.decode()
HOUR_S = 3600
MINUTE_S = 60


class BusinessSettings(BaseModel):
    """The settings of the product's rules (a part of ``Settings``; built through it, never alone)."""

    # PINs
    pin_pepper: str = setting(
        "PIN_PEPPER",
        DEV_PEPPER,
        "server-side secret mixed into every PIN hash, and (under its own derived key) into the session's"
        " digest of typed text; at least 32 characters in production",
        repr=False,
        min_length=16,
    )
    pin_kdf_log2_n: int = setting(
        "PIN_KDF_LOG2_N",
        ENGINE.pin_kdf_log2_n,
        "scrypt cost as log2(N) (14: about 16 MiB and tens of milliseconds per check)",
        ge=10,
        le=20,
    )
    pin_max_wait_ms: int = setting(
        "PIN_MAX_WAIT_MS",
        ENGINE.pin_max_wait_ms,
        'a PIN check expected to queue longer is answered "busy, enter your PIN again" at once, with no try'
        " used (the reply must beat the gateway's ~10-15 s deadline)",
        ge=100,
        le=9000,
    )
    pin_retry_max_wait_ms: int = setting(
        "PIN_RETRY_MAX_WAIT_MS",
        ENGINE.pin_retry_max_wait_ms,
        "the same for the next PIN of someone just answered busy, so they are served ahead of newcomers",
        ge=100,
        le=9000,
    )
    pin_max_failures: int = setting(
        "PIN_MAX_FAILURES", ENGINE.pin_max_failures, "wrong PINs in a row that lock the PIN", ge=1, le=10
    )
    pin_lock_minutes: Annotated[tuple[int, ...], COMMA_LIST] = setting(
        "PIN_LOCK_MINUTES",
        tuple(s // MINUTE_S for s in ENGINE.pin_lock_stages_s),
        "how long each successive lock lasts, in minutes; after the last, locked until `enerlectra user reset-pin`",
        min_length=1,
        max_length=5,
    )
    reset_hold_hours: int = setting(
        "RESET_HOLD_HOURS",
        ENGINE.reset_hold_s // HOUR_S,
        "after an operator PIN reset, nothing leaves the wallet (gifts, offers, paying for an offer) for this"
        " many hours (a SIM-swap pattern)",
        ge=0,
        le=24 * 14,
    )

    # Money, energy and carbon
    starting_credit_ngwee: Annotated[int, KWACHA] = setting(
        "STARTING_CREDIT",
        ENGINE.starting_credit_ngwee,
        "Kwacha given to each new user from the promotions account",
        ge=0,
    )
    starting_credits_per_day: int = setting(
        "STARTING_CREDITS_PER_DAY",
        ENGINE.starting_credits_per_day,
        "new users given that credit a local day, platform-wide; later ones that day start with none"
        " (registering many SIMs is no way to collect money), and their welcome SMS promises nothing",
        ge=0,
        le=1_000_000,
    )
    platform_price_ngwee_per_kwh: Annotated[int, KWACHA] = setting(
        "PLATFORM_PRICE_PER_KWH",
        ENGINE.platform_price_ngwee_per_kwh,
        "Kwacha per kWh: the market price shown when selling to a neighbour",
        gt=0,
    )
    trade_fee_bps: int = setting(
        "TRADE_FEE_BPS",
        ENGINE.trade_fee_bps,
        "platform fee on trades in basis points, paid by the buyer, rounded up to the ngwee",
        ge=0,
        le=2000,
    )
    offer_ttl_hours: int = setting(
        "OFFER_TTL_HOURS",
        ENGINE.offer_ttl_s // HOUR_S,
        "hours a buyer has to accept an energy offer before the seller's energy returns",
        ge=1,
        le=24 * 30,
    )
    carbon_g_per_kwh: int = setting(
        "CARBON_G_PER_KWH",
        ENGINE.carbon_g_per_kwh,
        "grams of CO2 displaced per renewable kWh (the spec's 0.8 kg; fits diesel, Zambia's grid is ~110 g)",
        ge=0,
    )
    tree_g_co2: int = setting(
        "TREE_G_CO2", ENGINE.tree_g_co2, "grams of CO2 one tree seedling takes up in 10 years", gt=0
    )
    car_g_co2_per_mile: int = setting(
        "CAR_G_CO2_PER_MILE", ENGINE.car_g_co2_per_mile, "grams of CO2 per mile of driving (shown as km)", gt=0
    )
    ledger_max_batch: int = setting(
        "LEDGER_MAX_BATCH", ENGINE.max_batch, "the most transfers one ledger batch may hold", ge=1, le=8190
    )
    local_utc_offset_hours: int = setting(
        "LOCAL_UTC_OFFSET_HOURS",
        ENGINE.local_utc_offset_s // HOUR_S,
        "the local day for daily caps and the SMS summary, and local times on screens"
        " (Zambia: CAT, UTC+2, no daylight saving)",
        ge=-12,
        le=14,
    )

    # Abuse limits (the README's next table says what a person sees at each). The first two are counted
    # by the server (ussd_server/rate_limits.py, the gateway), not the engine: declared here only.
    hops_per_minute: int = setting(
        "HOPS_PER_MINUTE",
        30,
        "USSD hops per phone a minute (no person is faster; a gateway retry counts too)",
        ge=1,
        le=100_000,
    )
    pin_checks_per_minute: int = setting(
        "PIN_CHECKS_PER_MINUTE",
        6,
        "PIN checks per phone a minute (each is a slow KDF run); a refused check uses no try",
        ge=1,
        le=100_000,
    )
    gifts_per_day: int = setting(
        "GIFTS_PER_DAY", ENGINE.gifts_per_day, "energy gifts per user and local day", ge=0, le=10_000
    )
    offers_per_day: int = setting(
        "OFFERS_PER_DAY",
        ENGINE.offers_per_day,
        "sale offers per user and local day (declined ones count)",
        ge=0,
        le=10_000,
    )
    lookups_per_day: int = setting(
        "LOOKUPS_PER_DAY",
        ENGINE.lookups_per_day,
        "numbers looked up per user and local day, registered or not (no free probing of who is registered)",
        ge=0,
        le=10_000,
    )
    min_transfer_wh: Annotated[int, KWH] = setting(
        "MIN_TRANSFER_KWH", ENGINE.min_transfer_wh, "the smallest gift or offer, in kWh", ge=1
    )
    max_open_offers_per_pair: int = setting(
        "MAX_OPEN_OFFERS_PER_PAIR",
        ENGINE.max_open_offers_per_pair,
        "open offers from one seller to one buyer",
        ge=1,
        le=100,
    )
    sms_daily_cap: int = setting(
        "SMS_DAILY_CAP",
        ENGINE.sms_daily_cap,
        "ordinary SMS per number and local day; the rest are kept folded and one summary goes out at 20:00"
        " local; SMS about PINs are never capped",
        ge=1,
        le=1000,
    )

    def engine_config(self) -> EngineConfig:
        """The engine's settings, in the engine's units (seconds, bytes)."""
        return EngineConfig(
            pin_pepper=self.pin_pepper.encode(),
            pin_kdf_log2_n=self.pin_kdf_log2_n,
            pin_max_wait_ms=self.pin_max_wait_ms,
            pin_retry_max_wait_ms=self.pin_retry_max_wait_ms,
            pin_max_failures=self.pin_max_failures,
            pin_lock_stages_s=tuple(m * MINUTE_S for m in self.pin_lock_minutes),
            reset_hold_s=self.reset_hold_hours * HOUR_S,
            gifts_per_day=self.gifts_per_day,
            offers_per_day=self.offers_per_day,
            lookups_per_day=self.lookups_per_day,
            min_transfer_wh=self.min_transfer_wh,
            max_open_offers_per_pair=self.max_open_offers_per_pair,
            sms_daily_cap=self.sms_daily_cap,
            local_utc_offset_s=self.local_utc_offset_hours * HOUR_S,
            starting_credit_ngwee=self.starting_credit_ngwee,
            starting_credits_per_day=self.starting_credits_per_day,
            platform_price_ngwee_per_kwh=self.platform_price_ngwee_per_kwh,
            trade_fee_bps=self.trade_fee_bps,
            offer_ttl_s=self.offer_ttl_hours * HOUR_S,
            carbon_g_per_kwh=self.carbon_g_per_kwh,
            tree_g_co2=self.tree_g_co2,
            car_g_co2_per_mile=self.car_g_co2_per_mile,
            max_batch=self.ledger_max_batch,
        )
