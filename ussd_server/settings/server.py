"""How the server runs: where it listens, its database and Redis, the USSD gateway, SMS delivery, the scheduler."""

from __future__ import annotations

import ipaddress
import logging
from typing import Annotated, Literal

from pydantic import BaseModel, field_validator

from engine.scheduler.model import RetryPolicy
from ussd_server.sessions.keys import COMMAND_TIMEOUT_MS, DEFAULT_SESSION_TTL_S
from ussd_server.settings.fields import COMMA_LIST, setting

CommaList = Annotated[tuple[str, ...], COMMA_LIST]
_RETRIES = RetryPolicy()  # the engine's defaults (engine/scheduler/model.py)


class ServerSettings(BaseModel):
    """The settings only the server reads (a part of ``Settings``; built through it, never alone)."""

    env: Literal["dev", "production"] = setting(
        "ENERLECTRA_ENV",
        "dev",
        "`dev` (listens on a loopback `HOST` only; no secrets needed; demo data on an empty database)"
        " or `production` (see the checklist below)",
    )
    demo_data: Literal["full", "basic", "none"] = setting(
        "DEMO_DATA",
        "basic",
        "what a dev server loads into an empty database at its first start: `basic` (clusters and the demo"
        " users), `full` (and five co-ops with six weeks of history, three weeks of market prices in every demo"
        " cluster and a Lusaka order book, a few seconds more; `make run` asks for it) or `none`",
    )
    database_url: str = setting(
        "DATABASE_URL",
        "sqlite:///var/enerlectra.db",
        "`sqlite:///relative/path`, `sqlite:////absolute/path` or `postgresql://user@host:5432/db`",
    )
    redis_url: str | None = setting(
        "REDIS_URL",
        None,
        "sessions and rate-limit counters in Redis when set, in process memory otherwise (same behaviour)",
    )
    # storage.DEFAULT_POOL_SIZE restates this for callers of open_store that pass none (tests, benches):
    # entry points may not import storage (pyproject's import contracts), so it cannot be read from there.
    database_pool_size: int = setting(
        "DATABASE_POOL_SIZE",
        10,
        "PostgreSQL connections per server process (several processes must fit `max_connections`)",
        ge=1,
        le=200,
    )
    host: str = setting("HOST", "127.0.0.1", "the address the server listens on")
    port: int = setting("PORT", 8000, "the port the server listens on", ge=1, le=65535)
    web_workers: int = setting(
        "WEB_WORKERS",
        1,
        "server processes sharing the port (`reuse_port`); more than one needs `REDIS_URL`",
        ge=1,
        le=64,
    )
    redis_timeout_ms: int = setting(
        "REDIS_TIMEOUT_MS",
        COMMAND_TIMEOUT_MS,
        "longest one Redis command (sessions, rate limits) may take before the hop answers busy",
        ge=50,
        le=10_000,
    )
    pin_kdf_threads: int = setting(
        "PIN_KDF_THREADS",
        0,
        "threads per process that run the PIN KDF; 0: one fewer than the cores the process may use",
        ge=0,
        le=64,
    )
    log_level: str = setting("LOG_LEVEL", "INFO", "`DEBUG`, `INFO`, `WARNING` or `ERROR`")

    # USSD gateway
    ussd_service_codes: CommaList = setting(
        "USSD_SERVICE_CODES",
        ("*384*2025#",),
        "comma-separated codes we answer (SMS texts show the first); others get a short `END`",
    )
    gateway_secret: str | None = setting(
        "GATEWAY_SECRET",
        None,
        "required in production (at least 32 characters): `/ussd`, `/ussd/events`, `/sms/delivery` refuse"
        " requests without it",
        repr=False,
    )
    gateway_auth: Literal["token", "basic"] = setting(
        "GATEWAY_AUTH",
        "basic",
        "`basic` (HTTP basic auth: `GATEWAY_USER` and the secret; recommended) or `token`"
        " (`...?token=SECRET`: the secret ends up in proxy logs, so start-up warns)",
    )
    gateway_user: str = setting("GATEWAY_USER", "africastalking", "the basic-auth user name")
    gateway_allowed_ips: CommaList = setting(
        "GATEWAY_ALLOWED_IPS",
        (),
        "comma-separated CIDRs the gateway calls from; unset allows any, and production then starts with a"
        " loud warning",
    )
    trusted_proxies: CommaList = setting(
        "TRUSTED_PROXIES",
        (),
        "comma-separated CIDRs of our own reverse proxies; only from them is `X-Forwarded-For` believed"
        " (read right to left, skipping them)",
    )
    auth_failures_per_minute: int = setting(
        "AUTH_FAILURES_PER_MINUTE",
        10,
        "failed gateway authentications a minute per caller address (IPv6: per /64) before it gets `429`"
        " with `Retry-After`",
        ge=1,
        le=10_000,
    )
    body_read_timeout_s: float = setting(
        "BODY_READ_TIMEOUT_S",
        5.0,
        "seconds a request body has to arrive (a trickled one would hold a connection open); then `408`",
        gt=0,
        le=60,
    )
    session_ttl_s: int = setting(
        "SESSION_TTL_S",
        DEFAULT_SESSION_TTL_S,
        "session lifetime in seconds, refreshed each hop (the gateway ends a session after ~180 s)",
        ge=30,
        le=3600,
    )
    # At least 1: the session stores refuse a zero TTL, so 0 would fail every dial instead of the start.
    resume_window_s: int = setting(
        "RESUME_WINDOW_S", 120, "seconds a dropped session can be offered back on the next dial", ge=1, le=3600
    )
    hop_deadline_ms: int = setting(
        "HOP_DEADLINE_MS",
        9500,
        "no new step of a hop (another dial-string input, a PIN check) starts after this; a PIN check may"
        " only wait for what is left (the gateway gives up after ~10-15 s)",
        ge=1000,
        le=14_000,
    )
    dial_shortcut_max_inputs: int = setting(
        "DIAL_SHORTCUT_MAX_INPUTS",
        3,
        "inputs taken from a dial string (`*384*2025*2*1#`); the walk also stops before any PIN screen,"
        " which would leave the PIN in the call log",
        ge=0,
        le=10,
    )
    region_order: CommaList = setting(
        "REGION_ORDER",
        ("Lusaka", "Copperbelt", "Kabwe", "Rural"),
        "regions in the buy menu in this order; any other after them, A-Z",
    )
    redis_pool_size: int = setting(
        "REDIS_POOL_SIZE",
        256,
        "Redis connections per process (sized above peak concurrency; a FIFO queue sits in front)",
        ge=8,
        le=10_000,
    )
    # Both default to the faster choice and fall back to the standard one where it is not installed
    # (no wheel for the platform); the other value exists to measure what they bring (bench.ab).
    event_loop: Literal["uvloop", "asyncio"] = setting(
        "EVENT_LOOP",
        "uvloop",
        "`uvloop` (used when installed, else asyncio's) or `asyncio` (the standard library's event loop)",
    )
    redis_parser: Literal["hiredis", "python"] = setting(
        "REDIS_PARSER",
        "hiredis",
        "`hiredis` (C reply parser and command packer, used when installed, else redis-py's) or `python`"
        " (redis-py's own)",
    )

    # SMS delivery
    sms_backend: Literal["console", "africastalking", "inbox"] = setting(
        "SMS_BACKEND",
        "console",
        "`console` (log), `inbox` (kept in memory for the simulator, `GET /dev/sms?phone=` in dev mode) or"
        " `africastalking` (required in production)",
    )
    at_username: str = setting("AT_USERNAME", "sandbox", "Africa's Talking user name (`sandbox` targets AT's sandbox)")
    at_api_key: str | None = setting(
        "AT_API_KEY", None, "Africa's Talking API key (needed by `SMS_BACKEND=africastalking`)", repr=False
    )
    at_sender_id: str | None = setting("AT_SENDER_ID", None, "Africa's Talking sender ID (AT's default when unset)")
    sms_timeout_s: float = setting("SMS_TIMEOUT_S", 10.0, "seconds one send may take", gt=0, le=120)
    # 12 attempts with capped exponential backoff span about 50 minutes: long
    # enough to ride out an operator outage or an empty AT balance.
    sms_max_attempts: int = setting(
        "SMS_MAX_ATTEMPTS", 12, "attempts before a message is dead (~50 min of backoff)", ge=1, le=50
    )
    sms_poll_interval_s: float = setting("SMS_POLL_INTERVAL_S", 1.0, "seconds between outbox polls", gt=0, le=60)

    # REST API (/api/v1)
    api_token_ttl_minutes: int = setting(
        "API_TOKEN_TTL_MINUTES",
        30,
        "minutes a user's API sign-in token lasts (it reads; moving money or energy also needs the PIN)",
        ge=1,
        le=24 * 60,
    )
    api_sign_in_failures_per_minute: int = setting(
        "API_SIGN_IN_FAILURES_PER_MINUTE",
        20,
        "failed API sign-ins a minute per caller address (IPv6: per /64) before it gets `429` with `Retry-After`",
        ge=1,
        le=10_000,
    )
    api_cors_origins: CommaList = setting(
        "API_CORS_ORIGINS",
        (),
        "comma-separated origins (`https://app.example.zm`) whose web pages may call `/api/v1`; unset: none",
    )

    # Scheduler: due work (proposals moving at their deadlines, leavers' refunds; scheduled trades later)
    scheduler_enabled: bool = setting(
        "SCHEDULER_ENABLED",
        True,
        "run due jobs (proposals moving at their deadlines, leavers' refunds) in the server process; on SQLite one"
        " process at a time does (a lock file beside the database); `false`: only `enerlectra scheduler run` does",
    )
    scheduler_interval_s: float = setting(
        "SCHEDULER_INTERVAL_S",
        5.0,
        "seconds between looks for due jobs when the last look found fewer than a batch (a full batch is followed"
        " by the next at once): how late a deadline may be acted on",
        gt=0,
        le=300,
    )
    scheduler_batch: int = setting(
        "SCHEDULER_BATCH", 100, "due jobs one process claims and runs at a time", ge=1, le=10_000
    )
    scheduler_max_attempts: int = setting(
        "SCHEDULER_MAX_ATTEMPTS",
        _RETRIES.max_attempts,
        "failures in a row before a job is dead and waits for an operator (`enerlectra scheduler status`, `retry`)",
        ge=1,
        le=100,
    )
    scheduler_retry_first_s: int = setting(
        "SCHEDULER_RETRY_FIRST_S",
        _RETRIES.first_s,
        "seconds before a failed job runs again; the wait doubles with each failure",
        ge=1,
        le=24 * 3600,
    )
    scheduler_retry_max_s: int = setting(
        "SCHEDULER_RETRY_MAX_S",
        _RETRIES.cap_s,
        "the longest wait between two runs of a failing job (at least `SCHEDULER_RETRY_FIRST_S`)",
        ge=1,
        le=7 * 24 * 3600,
    )
    scheduler_lease_s: int = setting(
        "SCHEDULER_LEASE_S",
        _RETRIES.lease_s,
        "seconds a claimed job stays with its worker; a worker that dies leaves its jobs to others after this",
        ge=1,
        le=3600,
    )

    @field_validator("gateway_allowed_ips", "trusted_proxies")
    @classmethod
    def _cidrs(cls, cidrs: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in cidrs:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not an address or network (write e.g. 10.0.0.0/8)") from None
        return cidrs

    @field_validator("api_cors_origins")
    @classmethod
    def _origins(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        for origin in origins:
            scheme, sep, host = origin.partition("://")
            if scheme not in ("http", "https") or not sep or not host or "/" in host:
                raise ValueError(f"{origin!r} is not an origin (write e.g. https://app.example.zm, no path)")
        return origins

    @field_validator("gateway_user")
    @classmethod
    def _basic_auth_user(cls, user: str) -> str:
        if not user or ":" in user:
            raise ValueError("the basic auth user name must be non-empty and without ':'")
        return user

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, level: str) -> str:
        # logging refuses a name it does not know only when the server starts; say so here instead.
        if level.upper() not in logging.getLevelNamesMapping():
            raise ValueError(f"{level!r} is not a logging level (write e.g. INFO or DEBUG)")
        return level.upper()

    def retry_policy(self) -> RetryPolicy:
        """How the scheduler retries a failing job, in the engine's terms."""
        return RetryPolicy(
            max_attempts=self.scheduler_max_attempts,
            first_s=self.scheduler_retry_first_s,
            cap_s=max(self.scheduler_retry_max_s, self.scheduler_retry_first_s),
            lease_s=self.scheduler_lease_s,
        )

    @property
    def shortcode(self) -> str:
        """The code people dial, shown in SMS texts."""
        return self.ussd_service_codes[0]

    @property
    def dev_mode(self) -> bool:
        return self.env == "dev"
