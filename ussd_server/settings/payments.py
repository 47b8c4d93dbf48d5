"""Mobile money: the providers' APIs, their callbacks, the provider simulator in dev, polling.

In dev mode with no provider URL set, the server starts the provider
simulator in its own process (``enerlectra momo-sim`` does the same on its
own) and points MTN and Airtel at it, so a newcomer's deposit completes by
itself. In production a provider is used only when its URL is set.
"""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, field_validator

from engine.kernel.errors import EnerlectraError
from engine.kernel.units import parse_money
from engine.payments.config import DEFAULT_POLL_SCHEDULE_S, PaymentConfig, TierLimits
from engine.payments.model import MOBILE_MONEY, Provider
from ussd_server.settings.fields import COMMA_LIST, setting

CommaList = Annotated[tuple[str, ...], COMMA_LIST]
DEFAULTS = PaymentConfig()
DEV_CALLBACK_SECRET = "dev-callback-secret-not-for-production"


class PaymentSettings(BaseModel):
    """The settings of mobile money (a part of ``Settings``; built through it, never alone)."""

    mtn_base_url: str = setting(
        "MTN_BASE_URL",
        "",
        "MTN MoMo Open API base URL (`https://proxy.momoapi.mtn.com`; sandbox: `https://sandbox.momodeveloper.mtn.com`);"
        " unset: MTN off, or the embedded simulator in dev",
    )
    mtn_api_user: str = setting("MTN_API_USER", "", "MTN API user (a UUID, from the MoMo partner portal)")
    mtn_api_key: str = setting("MTN_API_KEY", "", "MTN API key of that user", repr=False)
    mtn_collection_key: str = setting(
        "MTN_COLLECTION_KEY", "", "MTN subscription key of the Collections product (deposits)", repr=False
    )
    mtn_disbursement_key: str = setting(
        "MTN_DISBURSEMENT_KEY", "", "MTN subscription key of the Disbursements product (withdrawals)", repr=False
    )
    mtn_target_environment: str = setting(
        "MTN_TARGET_ENVIRONMENT",
        "sandbox",
        "MTN's X-Target-Environment (`sandbox`, or the live one MTN gives, e.g. `mtnzambia`)",
    )
    airtel_base_url: str = setting(
        "AIRTEL_BASE_URL",
        "",
        "Airtel Money (Africa) API base URL (`https://openapi.airtel.africa`; staging: `https://openapiuat.airtel.africa`);"
        " unset: Airtel off, or the embedded simulator in dev",
    )
    airtel_client_id: str = setting("AIRTEL_CLIENT_ID", "", "Airtel API client id")
    airtel_client_secret: str = setting("AIRTEL_CLIENT_SECRET", "", "Airtel API client secret", repr=False)
    airtel_disbursement_pin: str = setting(
        "AIRTEL_DISBURSEMENT_PIN",
        "",
        "the disbursement PIN, encrypted with Airtel's public key as its portal explains (withdrawals)",
        repr=False,
    )
    momo_currency: str = setting(
        "MOMO_CURRENCY",
        "ZMW",
        "currency sent to the providers (MTN's sandbox only takes `EUR`)",
        min_length=3,
        max_length=3,
    )
    provider_timeout_s: float = setting(
        "PROVIDER_TIMEOUT_S",
        10.0,
        "seconds one call to a provider may take; a submit with no answer in time is UNKNOWN and asked about later",
        gt=0,
        le=60,
    )
    callback_base_url: str = setting(
        "CALLBACK_BASE_URL",
        "",
        "the public URL providers call back (`https://api.enerlectra.zm`); unset: this server's own address",
    )
    mtn_callback_secret: str = setting(
        "MTN_CALLBACK_SECRET",
        DEV_CALLBACK_SECRET,
        "secret path segment of MTN's callback URL (`/callbacks/momo/mtn/<secret>`); 32+ characters in production",
        repr=False,
        min_length=16,
    )
    airtel_callback_secret: str = setting(
        "AIRTEL_CALLBACK_SECRET",
        DEV_CALLBACK_SECRET,
        "the same for Airtel's callback URL (registered on Airtel's portal)",
        repr=False,
        min_length=16,
    )
    callback_allowed_ips: CommaList = setting(
        "CALLBACK_ALLOWED_IPS",
        (),
        "comma-separated addresses or networks providers call back from; unset: any (the secret URL still applies)",
    )
    momo_sim_approve_after_ms: int = setting(
        "MOMO_SIM_APPROVE_AFTER_MS",
        3000,
        "the embedded provider simulator (dev) approves a deposit by itself after this long; 0: only the handset"
        " (the phone simulator's prompt) approves",
        ge=0,
        le=600_000,
    )
    payment_poll_schedule_s: Annotated[tuple[int, ...], COMMA_LIST] = setting(
        "PAYMENT_POLL_SCHEDULE_S",
        DEFAULT_POLL_SCHEDULE_S,
        "seconds between status checks of a payment with no final answer (the last repeats)",
        min_length=1,
    )
    payment_give_up_hours: int = setting(
        "PAYMENT_GIVE_UP_HOURS",
        DEFAULTS.give_up_after_s // 3600,
        "hours a payment is polled before it waits for an operator (`enerlectra payments review`)",
        ge=1,
        le=24 * 14,
    )
    mobile_money_prefixes: CommaList = setting(
        "MOBILE_MONEY_PREFIXES",
        tuple(f"{prefix}={provider}" for prefix, provider in DEFAULTS.prefixes.items()),
        "which provider serves which mobile prefix after +260 (`96=mtn`); other prefixes have no mobile money",
    )
    kyc_limits_file: str = setting(
        "KYC_LIMITS_FILE",
        "",
        "a TOML file of KYC tier limits, each with its source and date (`docs/examples/kyc-limits.toml`);"
        " unset: the built-in figures (`enerlectra payments limits`)",
    )
    payment_concurrency: int = setting(
        "PAYMENT_CONCURRENCY", 32, "provider calls one process makes at once (submits and status checks)", ge=1, le=1000
    )

    @field_validator("callback_allowed_ips")
    @classmethod
    def _networks(cls, cidrs: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in cidrs:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not an address or network (write e.g. 196.201.214.0/24)") from None
        return cidrs

    @field_validator("mobile_money_prefixes")
    @classmethod
    def _prefixes(cls, pairs: tuple[str, ...]) -> tuple[str, ...]:
        parse_prefixes(pairs)
        return pairs

    @field_validator("kyc_limits_file")
    @classmethod
    def _limits_file(cls, path: str) -> str:
        if path:
            read_limits(Path(path))
        return path

    @field_validator("payment_poll_schedule_s")
    @classmethod
    def _positive(cls, schedule: tuple[int, ...]) -> tuple[int, ...]:
        if any(s <= 0 for s in schedule):
            raise ValueError("every delay must be at least 1 second")
        return schedule

    def payment_config(self) -> PaymentConfig:
        return PaymentConfig(
            tiers=read_limits(Path(self.kyc_limits_file)) if self.kyc_limits_file else DEFAULTS.tiers,
            prefixes=parse_prefixes(self.mobile_money_prefixes),
            poll_schedule_s=tuple(self.payment_poll_schedule_s),
            give_up_after_s=self.payment_give_up_hours * 3600,
        )


def parse_prefixes(pairs: tuple[str, ...]) -> dict[str, Provider]:
    """``("96=mtn", "97=airtel")`` -> ``{"96": MTN, "97": AIRTEL}``."""
    prefixes: dict[str, Provider] = {}
    for pair in pairs:
        prefix, _, name = pair.partition("=")
        prefix, name = prefix.strip(), name.strip().lower()
        if not (prefix.isdigit() and len(prefix) == 2) or name not in {p.value for p in MOBILE_MONEY}:
            networks = ", ".join(p.value for p in MOBILE_MONEY)
            raise ValueError(f"{pair!r}: write two digits after +260, = and a provider ({networks}), e.g. 96=mtn")
        prefixes[prefix] = Provider(name)
    return prefixes


_LIMIT_FIELDS = ("per_transaction", "per_day", "per_month", "balance_cap")


def read_limits(path: Path) -> dict[int, TierLimits]:
    """The KYC tiers in a TOML file (``[[tier]]`` tables, amounts in Kwacha as text); every problem named."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path} is not TOML: {exc}") from None
    tiers: dict[int, TierLimits] = {}
    for entry in data.get("tier", []):
        try:
            number = int(entry["tier"])
            amounts = [parse_money(str(entry[name])) for name in _LIMIT_FIELDS]
            source, as_of = str(entry["source"]).strip(), str(entry["as_of"]).strip()
        except (KeyError, TypeError, ValueError, EnerlectraError) as exc:
            raise ValueError(
                f"{path}: a [[tier]] needs tier, {', '.join(_LIMIT_FIELDS)}, source and as_of ({exc})"
            ) from None
        if not source or not as_of:
            raise ValueError(f"{path}: tier {number} must say where its figures come from and their date")
        per_transaction, per_day, per_month, balance_cap = amounts
        tiers[number] = TierLimits(number, per_transaction, per_day, per_month, balance_cap, source, as_of)
    if sorted(tiers) != [1, 2, 3]:
        raise ValueError(f"{path}: tiers 1, 2 and 3 are needed, each once")
    return tiers
