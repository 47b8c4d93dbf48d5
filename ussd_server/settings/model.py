"""``Settings``: every setting, declared once, read from the environment in one place.

The fields are declared by concern in ``server.py``, ``business.py``, ``markets.py``
and ``payments.py`` (each with its variable, type, default and one-line doc); this
class joins them, adds the rules that span them, and reads the environment
(``from_env``).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ussd_server.settings.business import DEV_PEPPER, BusinessSettings
from ussd_server.settings.markets import MarketSettings
from ussd_server.settings.payments import DEV_CALLBACK_SECRET, PaymentSettings
from ussd_server.settings.server import ServerSettings
from ussd_server.settings.source import EnvironSource, describe

# Production secrets are long random strings (`openssl rand -hex 32`); nobody types or guesses those.
MIN_PRODUCTION_SECRET_CHARS = 32
# Settings whose values may hold a password (postgresql://user:password@host/db): masked in reprs.
_URLS = ("database_url", "redis_url")


class SettingsError(ValueError):
    """The environment does not describe a runnable configuration."""


# Fields come base-most first: the server's, the business rules', the market's, mobile money's (the README
# table's order).
class Settings(PaymentSettings, MarketSettings, BusinessSettings, ServerSettings, BaseSettings):
    """The server's configuration: built from the environment by ``from_env``, or by hand in tests."""

    # populate_by_name: code passes field names (Settings(sms_backend="inbox")), from_env the variables'.
    # hide_input_in_errors: a ValidationError from a hand-built Settings(...) may reach a log; from_env
    # writes its own messages, which show what was written except for secrets.
    model_config = SettingsConfigDict(frozen=True, extra="forbid", populate_by_name=True, hide_input_in_errors=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Settings(...) is exactly what it is given (tests and benches build one by hand): the
        # environment is read in one place, from_env. No .env file: deployments set real variables.
        return (init_settings,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` alone (default: the process environment).

        Raises SettingsError naming every bad variable at once.
        """
        source = EnvironSource(cls, os.environ if environ is None else environ)
        try:
            return cls.model_validate(source())
        except ValidationError as exc:
            raise SettingsError(describe(exc, cls.model_fields, source.env_vars)) from None

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
            for name, url, secret in (
                ("MTN", self.mtn_base_url, self.mtn_callback_secret),
                ("AIRTEL", self.airtel_base_url, self.airtel_callback_secret),
            ):
                if url and (secret == DEV_CALLBACK_SECRET or len(secret) < MIN_PRODUCTION_SECRET_CHARS):
                    problems.append(
                        f"{name}_CALLBACK_SECRET must be a secret of at least {MIN_PRODUCTION_SECRET_CHARS} characters"
                        f" when {name}_BASE_URL is set in production: it authenticates the provider's callbacks"
                    )
            if problems:
                raise ValueError("; ".join(problems))
        if self.pin_retry_max_wait_ms < self.pin_max_wait_ms:
            raise ValueError("PIN_RETRY_MAX_WAIT_MS must be at least PIN_MAX_WAIT_MS: a retry waits no less")
        if self.mtn_base_url and not (self.mtn_api_user and self.mtn_api_key and self.mtn_collection_key):
            raise ValueError("MTN_BASE_URL needs MTN_API_USER, MTN_API_KEY and MTN_COLLECTION_KEY")
        if self.airtel_base_url and not (self.airtel_client_id and self.airtel_client_secret):
            raise ValueError("AIRTEL_BASE_URL needs AIRTEL_CLIENT_ID and AIRTEL_CLIENT_SECRET")
        if self.sms_backend == "africastalking" and not self.at_api_key:
            raise ValueError("SMS_BACKEND=africastalking needs AT_API_KEY")
        return self

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, (_without_password(value) if name in _URLS and isinstance(value, str) else value)


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)))


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: a listener no other machine can reach."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False
