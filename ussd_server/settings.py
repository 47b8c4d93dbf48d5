"""The one place that reads the environment.

Every setting has a safe default for development except the PIN pepper,
which production refuses to run without. Money and energy settings are
written the way people write them (``STARTING_CREDIT=5.00`` Kwacha) and parsed
by the units module into integers.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engine.config import EngineConfig
from engine.errors import InvalidAmount
from engine.units import parse_energy, parse_money

DEV_PEPPER = "dev-only-pepper-do-not-use-in-production"
# Production secrets are long random strings (`openssl rand -hex 32`); nobody types or guesses those.
MIN_PRODUCTION_SECRET_CHARS = 32


class SettingsError(ValueError):
    """The environment does not describe a runnable configuration."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    env: Literal["dev", "production"] = "dev"
    database_url: str = "sqlite:///var/enerlectra.db"
    redis_url: str | None = None
    database_pool_size: int = Field(default=10, ge=1, le=200)  # PostgreSQL connections per process
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Server processes sharing the port (SO_REUSEPORT); >1 needs Redis sessions and suits PostgreSQL.
    web_workers: int = Field(default=1, ge=1, le=64)
    log_level: str = "INFO"
    pin_pepper: str = Field(default=DEV_PEPPER, repr=False, min_length=16)
    pin_kdf_log2_n: int = Field(default=14, ge=10, le=20)
    # A PIN check expected to queue longer than this is answered "busy, enter your PIN again"
    # at once (no try used): the reply must leave before the gateway's ~10-15 s deadline.
    pin_max_wait_ms: int = Field(default=8000, ge=100, le=9000)
    # The same for someone whose last PIN got that answer: they are let in ahead of newcomers.
    pin_retry_max_wait_ms: int = Field(default=9000, ge=100, le=9000)
    pin_max_failures: int = Field(default=3, ge=1, le=10)
    # Each lock after pin_max_failures wrong PINs lasts the next of these; after the last stage
    # the PIN stays locked until an operator resets it (`enerlectra user reset-pin`).
    pin_lock_minutes: tuple[int, ...] = Field(default=(30, 24 * 60), min_length=1, max_length=5)
    # Per phone: PIN checks a minute (each costs a slow KDF run) and hops a minute (no person is faster).
    pin_checks_per_minute: int = Field(default=6, ge=1, le=100_000)
    hops_per_minute: int = Field(default=30, ge=1, le=100_000)
    # After an operator PIN reset, nothing leaves the wallet for this long (a SIM-swap pattern).
    reset_hold_hours: int = Field(default=24, ge=0, le=24 * 14)
    # Per user and day (local time): energy gifts, sale offers, and looking up another number.
    gifts_per_day: int = Field(default=10, ge=0, le=10_000)
    offers_per_day: int = Field(default=10, ge=0, le=10_000)
    lookups_per_day: int = Field(default=20, ge=0, le=10_000)
    # The smallest gift or offer, and how many offers one seller may have open to one buyer.
    min_transfer_wh: int = Field(default=100, ge=1)
    max_open_offers_per_pair: int = Field(default=3, ge=1, le=100)
    # SMS per recipient and day that are not about security; receipts beyond fold into one summary.
    sms_daily_cap: int = Field(default=10, ge=1, le=1000)
    # Days, and the evening summary, follow Zambian time (CAT, UTC+2, no daylight saving).
    local_utc_offset_hours: int = Field(default=2, ge=-12, le=14)
    starting_credit_ngwee: int = Field(default=500, ge=0)
    # New users given the starting credit a day, platform-wide (registering many SIMs is no way to collect money).
    starting_credits_per_day: int = Field(default=500, ge=0, le=1_000_000)
    platform_price_ngwee_per_kwh: int = Field(default=120, gt=0)
    trade_fee_bps: int = Field(default=0, ge=0, le=2000)
    offer_ttl_hours: int = Field(default=24, ge=1, le=24 * 30)
    carbon_g_per_kwh: int = Field(default=800, ge=0)
    tree_g_co2: int = Field(default=60_000, gt=0)
    car_g_co2_per_mile: int = Field(default=400, gt=0)
    ledger_max_batch: int = Field(default=1000, ge=1, le=8190)

    # USSD gateway
    ussd_service_codes: tuple[str, ...] = ("*384*2025#",)
    gateway_secret: str | None = Field(default=None, repr=False)
    gateway_auth: Literal["token", "basic"] = "basic"
    gateway_allowed_ips: tuple[str, ...] = ()  # CIDRs; empty = any address
    gateway_user: str = "africastalking"  # the username basic auth expects
    # CIDRs of reverse proxies in front of us: their X-Forwarded-For names the real caller.
    trusted_proxies: tuple[str, ...] = ()
    # Failed gateway authentications per source address a minute before it is refused outright.
    auth_failures_per_minute: int = Field(default=10, ge=1, le=10_000)
    # A request body must arrive within this time (a trickled body would hold a connection open).
    body_read_timeout_s: float = Field(default=5.0, gt=0, le=60)
    # No new step of a hop starts after this (the gateway gives up after ~10-15 s).
    hop_deadline_ms: int = Field(default=9500, ge=1000, le=14_000)
    # Inputs taken from a dial string (*384*2025*1*2#); never a PIN, which would stay in the call log.
    dial_shortcut_max_inputs: int = Field(default=3, ge=0, le=10)
    session_ttl_s: int = Field(default=180, ge=30, le=3600)
    resume_window_s: int = Field(default=120, ge=0, le=3600)
    # Regions in the buy menu: these first, in this order; any other after, A-Z.
    region_order: tuple[str, ...] = ("Lusaka", "Copperbelt", "Kabwe", "Rural")
    redis_pool_size: int = Field(default=256, ge=8, le=10_000)

    # SMS delivery
    sms_backend: Literal["console", "africastalking", "inbox"] = "console"
    at_username: str = "sandbox"
    at_api_key: str | None = Field(default=None, repr=False)
    at_sender_id: str | None = None
    sms_timeout_s: float = Field(default=10.0, gt=0, le=120)
    # 12 attempts with capped exponential backoff span about 50 minutes: long
    # enough to ride out an operator outage or an empty AT balance.
    sms_max_attempts: int = Field(default=12, ge=1, le=50)
    sms_poll_interval_s: float = Field(default=1.0, gt=0, le=60)

    @field_validator("gateway_allowed_ips", "trusted_proxies")
    @classmethod
    def _cidrs(cls, cidrs: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in cidrs:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not an address or network (write e.g. 10.0.0.0/8)") from None
        return cidrs

    @field_validator("gateway_user")
    @classmethod
    def _basic_auth_user(cls, user: str) -> str:
        if not user or ":" in user:
            raise ValueError("the basic auth user name must be non-empty and without ':'")
        return user

    @model_validator(mode="after")
    def _dev_mode_only_on_loopback(self) -> Settings:
        # Dev mode runs without a gateway secret, with the dev PIN pepper and /dev/sms: never reachable from outside.
        if self.env == "dev" and not is_loopback(self.host):
            raise ValueError(
                f"ENERLECTRA_ENV=dev serves only on a loopback HOST (127.0.0.1, ::1 or localhost), not {self.host!r}:"
                " set HOST=127.0.0.1, or ENERLECTRA_ENV=production with its secrets"
            )
        return self

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> Settings:
        if self.env == "production":
            # Every problem at once: an operator fixing them one start at a time would give up.
            problems = []
            if self.pin_pepper == DEV_PEPPER or len(self.pin_pepper) < MIN_PRODUCTION_SECRET_CHARS:
                problems.append(
                    f"PIN_PEPPER must be a secret of at least {MIN_PRODUCTION_SECRET_CHARS} characters in production"
                )
            if len(self.gateway_secret or "") < MIN_PRODUCTION_SECRET_CHARS:
                problems.append(
                    f"GATEWAY_SECRET must be a secret of at least {MIN_PRODUCTION_SECRET_CHARS} characters in "
                    "production: the USSD and SMS callbacks need it"
                )
            if self.sms_backend != "africastalking":
                problems.append(
                    "SMS_BACKEND must be africastalking in production: console writes whole texts, phone numbers "
                    "and balances to the log, and inbox is for dev only"
                )
            if problems:
                raise ValueError("; ".join(problems))
        if self.pin_retry_max_wait_ms < self.pin_max_wait_ms:
            raise ValueError("PIN_RETRY_MAX_WAIT_MS must be at least PIN_MAX_WAIT_MS: a retry waits no less")
        if self.sms_backend == "africastalking" and not self.at_api_key:
            raise ValueError("SMS_BACKEND=africastalking needs AT_API_KEY")
        return self

    @property
    def shortcode(self) -> str:
        """The code people dial, shown in SMS texts."""
        return self.ussd_service_codes[0]

    @property
    def dev_mode(self) -> bool:
        return self.env == "dev"

    def engine_config(self) -> EngineConfig:
        return EngineConfig(
            pin_pepper=self.pin_pepper.encode(),
            pin_kdf_log2_n=self.pin_kdf_log2_n,
            pin_max_wait_ms=self.pin_max_wait_ms,
            pin_retry_max_wait_ms=self.pin_retry_max_wait_ms,
            pin_max_failures=self.pin_max_failures,
            pin_lock_stages_s=tuple(m * 60 for m in self.pin_lock_minutes),
            reset_hold_s=self.reset_hold_hours * 3600,
            gifts_per_day=self.gifts_per_day,
            offers_per_day=self.offers_per_day,
            lookups_per_day=self.lookups_per_day,
            min_transfer_wh=self.min_transfer_wh,
            max_open_offers_per_pair=self.max_open_offers_per_pair,
            sms_daily_cap=self.sms_daily_cap,
            local_utc_offset_s=self.local_utc_offset_hours * 3600,
            starting_credit_ngwee=self.starting_credit_ngwee,
            starting_credits_per_day=self.starting_credits_per_day,
            platform_price_ngwee_per_kwh=self.platform_price_ngwee_per_kwh,
            trade_fee_bps=self.trade_fee_bps,
            offer_ttl_s=self.offer_ttl_hours * 3600,
            carbon_g_per_kwh=self.carbon_g_per_kwh,
            tree_g_co2=self.tree_g_co2,
            car_g_co2_per_mile=self.car_g_co2_per_mile,
            max_batch=self.ledger_max_batch,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default: the process environment)."""
        env = os.environ if environ is None else environ
        raw: dict[str, object] = {}
        plain = {
            "ENERLECTRA_ENV": "env",
            "DATABASE_URL": "database_url",
            "REDIS_URL": "redis_url",
            "DATABASE_POOL_SIZE": "database_pool_size",
            "HOST": "host",
            "PORT": "port",
            "WEB_WORKERS": "web_workers",
            "LOG_LEVEL": "log_level",
            "PIN_PEPPER": "pin_pepper",
            "PIN_KDF_LOG2_N": "pin_kdf_log2_n",
            "PIN_MAX_WAIT_MS": "pin_max_wait_ms",
            "PIN_RETRY_MAX_WAIT_MS": "pin_retry_max_wait_ms",
            "PIN_MAX_FAILURES": "pin_max_failures",
            "PIN_CHECKS_PER_MINUTE": "pin_checks_per_minute",
            "HOPS_PER_MINUTE": "hops_per_minute",
            "RESET_HOLD_HOURS": "reset_hold_hours",
            "GIFTS_PER_DAY": "gifts_per_day",
            "STARTING_CREDITS_PER_DAY": "starting_credits_per_day",
            "OFFERS_PER_DAY": "offers_per_day",
            "LOOKUPS_PER_DAY": "lookups_per_day",
            "MAX_OPEN_OFFERS_PER_PAIR": "max_open_offers_per_pair",
            "SMS_DAILY_CAP": "sms_daily_cap",
            "LOCAL_UTC_OFFSET_HOURS": "local_utc_offset_hours",
            "GATEWAY_USER": "gateway_user",
            "AUTH_FAILURES_PER_MINUTE": "auth_failures_per_minute",
            "BODY_READ_TIMEOUT_S": "body_read_timeout_s",
            "HOP_DEADLINE_MS": "hop_deadline_ms",
            "DIAL_SHORTCUT_MAX_INPUTS": "dial_shortcut_max_inputs",
            "TRADE_FEE_BPS": "trade_fee_bps",
            "OFFER_TTL_HOURS": "offer_ttl_hours",
            "CARBON_G_PER_KWH": "carbon_g_per_kwh",
            "TREE_G_CO2": "tree_g_co2",
            "CAR_G_CO2_PER_MILE": "car_g_co2_per_mile",
            "LEDGER_MAX_BATCH": "ledger_max_batch",
            "GATEWAY_SECRET": "gateway_secret",
            "GATEWAY_AUTH": "gateway_auth",
            "SESSION_TTL_S": "session_ttl_s",
            "RESUME_WINDOW_S": "resume_window_s",
            "REDIS_POOL_SIZE": "redis_pool_size",
            "SMS_BACKEND": "sms_backend",
            "AT_USERNAME": "at_username",
            "AT_API_KEY": "at_api_key",
            "AT_SENDER_ID": "at_sender_id",
            "SMS_TIMEOUT_S": "sms_timeout_s",
            "SMS_MAX_ATTEMPTS": "sms_max_attempts",
            "SMS_POLL_INTERVAL_S": "sms_poll_interval_s",
        }
        lists = {
            "USSD_SERVICE_CODES": "ussd_service_codes",
            "GATEWAY_ALLOWED_IPS": "gateway_allowed_ips",
            "TRUSTED_PROXIES": "trusted_proxies",
            "REGION_ORDER": "region_order",
            "PIN_LOCK_MINUTES": "pin_lock_minutes",
        }
        for var, name in lists.items():
            if env.get(var):
                raw[name] = tuple(part.strip() for part in env[var].split(",") if part.strip())
        for var, name in plain.items():
            if env.get(var):
                raw[name] = env[var]
        money = {"STARTING_CREDIT": "starting_credit_ngwee", "PLATFORM_PRICE_PER_KWH": "platform_price_ngwee_per_kwh"}
        energy = {"MIN_TRANSFER_KWH": "min_transfer_wh"}
        for var, name in energy.items():
            if env.get(var):
                try:
                    raw[name] = parse_energy(env[var])
                except InvalidAmount as exc:
                    raise SettingsError(f"{var}={env[var]!r}: {exc.detail} (write kWh, e.g. 0.1)") from None
        for var, name in money.items():
            if env.get(var):
                try:
                    raw[name] = parse_money(env[var], allow_zero=True)
                except InvalidAmount as exc:
                    raise SettingsError(f"{var}={env[var]!r}: {exc.detail} (write Kwacha, e.g. 1.20)") from None
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            names = {v: k for k, v in {**plain, **money, **energy, **lists}.items()}
            lines = [
                f"{names.get(str(e['loc'][0]), e['loc'][0]) if e['loc'] else 'settings'}: {e['msg']}"
                for e in exc.errors()
            ]
            raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: a listener no other machine can reach."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False
