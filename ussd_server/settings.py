"""The one place that reads the environment.

Every setting has a safe default for development except the PIN pepper,
which production refuses to run without. Money and energy settings are
written the way people write them (``STARTING_CREDIT=5.00`` Kwacha) and parsed
by the units module into integers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engine.config import EngineConfig
from engine.errors import InvalidAmount
from engine.units import parse_money

DEV_PEPPER = "dev-only-pepper-do-not-use-in-production"


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
    pin_lock_minutes: int = Field(default=30, ge=1)
    starting_credit_ngwee: int = Field(default=500, ge=0)
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
    gateway_auth: Literal["token", "basic"] = "token"
    gateway_allowed_ips: tuple[str, ...] = ()  # CIDRs; empty = any address
    session_ttl_s: int = Field(default=180, ge=30, le=3600)
    resume_window_s: int = Field(default=300, ge=0, le=3600)
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

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> Settings:
        if self.env == "production" and self.pin_pepper == DEV_PEPPER:
            raise ValueError("PIN_PEPPER must be set to a secret of at least 16 characters in production")
        if self.env == "production" and not self.gateway_secret:
            raise ValueError("GATEWAY_SECRET must be set in production: the USSD and SMS callbacks need it")
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
            pin_lock_seconds=self.pin_lock_minutes * 60,
            starting_credit_ngwee=self.starting_credit_ngwee,
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
            "PIN_LOCK_MINUTES": "pin_lock_minutes",
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
        lists = {"USSD_SERVICE_CODES": "ussd_service_codes", "GATEWAY_ALLOWED_IPS": "gateway_allowed_ips"}
        for var, name in lists.items():
            if env.get(var):
                raw[name] = tuple(part.strip() for part in env[var].split(",") if part.strip())
        for var, name in plain.items():
            if env.get(var):
                raw[name] = env[var]
        money = {"STARTING_CREDIT": "starting_credit_ngwee", "PLATFORM_PRICE_PER_KWH": "platform_price_ngwee_per_kwh"}
        for var, name in money.items():
            if env.get(var):
                try:
                    raw[name] = parse_money(env[var], allow_zero=True)
                except InvalidAmount as exc:
                    raise SettingsError(f"{var}={env[var]!r}: {exc.detail} (write Kwacha, e.g. 1.20)") from None
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            names = {v: k for k, v in {**plain, **money, **lists}.items()}
            lines = [
                f"{names.get(str(e['loc'][0]), e['loc'][0]) if e['loc'] else 'settings'}: {e['msg']}"
                for e in exc.errors()
            ]
            raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None
