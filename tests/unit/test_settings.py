"""Settings read from the environment (ussd_server/settings/)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.kernel.config import EngineConfig
from engine.payments.config import DEFAULT_TIERS
from engine.payments.model import Provider
from ussd_server.settings import DEV_PEPPER, Settings, SettingsError

SECRET = "s3cret-pepper-for-tests-only-0042"  # production secrets need at least 32 characters
PRODUCTION = {
    "ENERLECTRA_ENV": "production",
    "PIN_PEPPER": SECRET,
    "GATEWAY_SECRET": "gw-" + SECRET,
    "SMS_BACKEND": "africastalking",
    "AT_API_KEY": "at-api-key",
}


def test_an_empty_environment_gives_runnable_dev_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.env == "dev"
    assert settings.dev_mode is True
    assert settings.database_url == "sqlite:///var/enerlectra.db"
    assert settings.port == 8000
    assert settings.starting_credit_ngwee == 500
    assert settings.platform_price_ngwee_per_kwh == 120
    assert settings.carbon_g_per_kwh == 800


def test_empty_variables_count_as_unset() -> None:
    assert Settings.from_env({"PORT": "", "STARTING_CREDIT": ""}) == Settings.from_env({})


def test_plain_variables_are_read() -> None:
    settings = Settings.from_env(
        {**PRODUCTION, "DATABASE_URL": "sqlite:////tmp/x.db", "PORT": "8080", "HOST": "0.0.0.0", "TRADE_FEE_BPS": "150"}
    )
    assert settings.database_url == "sqlite:////tmp/x.db"
    assert settings.port == 8080
    assert settings.host == "0.0.0.0"
    assert settings.trade_fee_bps == 150


@pytest.mark.parametrize(
    ("text", "ngwee"),
    [("5.00", 500), ("5", 500), ("K5.00", 500), ("1,20", 120), ("1.2", 120), ("0.05", 5), ("0", 0)],
)
def test_starting_credit_is_written_in_kwacha(text: str, ngwee: int) -> None:
    assert Settings.from_env({"STARTING_CREDIT": text}).starting_credit_ngwee == ngwee


@pytest.mark.parametrize(("text", "ngwee"), [("1.20", 120), ("1,20", 120), ("K1.50", 150), ("2", 200)])
def test_platform_price_is_written_in_kwacha_per_kwh(text: str, ngwee: int) -> None:
    assert Settings.from_env({"PLATFORM_PRICE_PER_KWH": text}).platform_price_ngwee_per_kwh == ngwee


@pytest.mark.parametrize("var", ["STARTING_CREDIT", "PLATFORM_PRICE_PER_KWH"])
@pytest.mark.parametrize("bad", ["abc", "1.234", "-5", "1,000", "5 kwacha", "1e3"])
def test_a_bad_money_value_is_refused_naming_the_variable(var: str, bad: str) -> None:
    with pytest.raises(SettingsError) as excinfo:
        Settings.from_env({var: bad})
    assert var in str(excinfo.value)
    assert bad in str(excinfo.value), "the message should show what was written"


def test_a_zero_platform_price_is_refused_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match="PLATFORM_PRICE_PER_KWH"):
        Settings.from_env({"PLATFORM_PRICE_PER_KWH": "0"})


@pytest.mark.parametrize("port", ["0", "-1", "65536", "abc", "80.5"])
def test_a_port_out_of_range_or_not_a_number_is_refused_naming_port(port: str) -> None:
    with pytest.raises(SettingsError, match="PORT"):
        Settings.from_env({"PORT": port})


@pytest.mark.parametrize("port", ["1", "65535"])
def test_ports_at_the_ends_of_the_range_are_accepted(port: str) -> None:
    assert Settings.from_env({"PORT": port}).port == int(port)


def test_an_unknown_environment_name_is_refused_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match="ENERLECTRA_ENV"):
        Settings.from_env({"ENERLECTRA_ENV": "staging"})


def test_production_without_a_pin_pepper_is_refused() -> None:
    with pytest.raises(SettingsError, match="PIN_PEPPER"):
        Settings.from_env({"ENERLECTRA_ENV": "production"})


def test_production_with_a_short_pin_pepper_is_refused_without_echoing_it() -> None:
    with pytest.raises(SettingsError, match="PIN_PEPPER") as excinfo:
        Settings.from_env({"ENERLECTRA_ENV": "production", "PIN_PEPPER": "tiny-secret"})
    assert "tiny-secret" not in str(excinfo.value)


def test_production_without_a_gateway_secret_is_refused() -> None:
    with pytest.raises(SettingsError, match="GATEWAY_SECRET"):
        Settings.from_env({"ENERLECTRA_ENV": "production", "PIN_PEPPER": SECRET})


def test_production_with_its_secrets_and_the_sms_gateway_is_accepted() -> None:
    settings = Settings.from_env(PRODUCTION)
    assert settings.env == "production"
    assert settings.dev_mode is False
    assert settings.pin_pepper == SECRET


def test_engine_config_carries_the_values_through() -> None:
    settings = Settings.from_env(
        {
            "PIN_PEPPER": SECRET,
            "PIN_KDF_LOG2_N": "11",
            "PIN_MAX_WAIT_MS": "2500",
            "PIN_RETRY_MAX_WAIT_MS": "4000",
            "PIN_MAX_FAILURES": "5",
            "PIN_LOCK_MINUTES": "15",
            "STARTING_CREDIT": "7.50",
            "PLATFORM_PRICE_PER_KWH": "1.35",
            "TRADE_FEE_BPS": "250",
            "CARBON_G_PER_KWH": "650",
            "TREE_G_CO2": "50000",
            "CAR_G_CO2_PER_MILE": "300",
            "LEDGER_MAX_BATCH": "200",
        }
    )
    assert settings.engine_config() == EngineConfig(
        pin_pepper=SECRET.encode(),
        pin_kdf_log2_n=11,
        pin_max_wait_ms=2500,
        pin_retry_max_wait_ms=4000,
        pin_max_failures=5,
        pin_lock_stages_s=(15 * 60,),
        starting_credit_ngwee=750,
        platform_price_ngwee_per_kwh=135,
        trade_fee_bps=250,
        carbon_g_per_kwh=650,
        tree_g_co2=50_000,
        car_g_co2_per_mile=300,
        max_batch=200,
    )


def test_the_pepper_is_not_shown_when_settings_are_printed_or_logged() -> None:
    settings = Settings.from_env({"PIN_PEPPER": SECRET})
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    assert SECRET not in repr(settings.engine_config())


def test_settings_cannot_be_changed_after_start_up() -> None:
    settings = Settings.from_env({})
    with pytest.raises(ValueError, match="frozen"):
        settings.port = 9000


@pytest.mark.parametrize("wait_ms", ["0", "99", "9001", "soon"])
def test_a_pin_wait_budget_outside_the_gateways_deadline_is_refused_naming_the_variable(wait_ms: str) -> None:
    with pytest.raises(ValueError, match="PIN_MAX_WAIT_MS"):
        Settings.from_env({"PIN_MAX_WAIT_MS": wait_ms})


def test_a_retry_wait_shorter_than_the_first_is_refused_naming_both_variables() -> None:
    with pytest.raises(ValueError, match="PIN_RETRY_MAX_WAIT_MS must be at least PIN_MAX_WAIT_MS"):
        Settings.from_env({"PIN_MAX_WAIT_MS": "5000", "PIN_RETRY_MAX_WAIT_MS": "4000"})


def test_the_defaults_are_a_runnable_dev_server_on_loopback_with_basic_auth() -> None:
    settings = Settings.from_env({})
    assert (settings.env, settings.host) == ("dev", "127.0.0.1")
    assert settings.gateway_auth == "basic"
    assert settings.gateway_user == "africastalking"
    assert settings.auth_failures_per_minute == 10
    assert settings.body_read_timeout_s == 5.0
    assert settings.trusted_proxies == ()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "localhost", "LOCALHOST"])
def test_dev_mode_runs_on_a_loopback_address(host: str) -> None:
    assert Settings.from_env({"HOST": host}).host == host


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "10.0.0.5", "example.org"])
def test_dev_mode_on_an_address_others_can_reach_is_refused_saying_what_to_set(host: str) -> None:
    with pytest.raises(SettingsError) as excinfo:
        Settings.from_env({"HOST": host})
    message = str(excinfo.value)
    assert "ENERLECTRA_ENV=dev" in message
    assert "HOST=127.0.0.1" in message
    assert "ENERLECTRA_ENV=production" in message
    # Production may listen anywhere.
    assert Settings.from_env({**PRODUCTION, "HOST": host}).host == host


@pytest.mark.parametrize("backend", ["console", "inbox"])
def test_production_refuses_an_sms_backend_that_logs_or_keeps_texts(backend: str) -> None:
    with pytest.raises(SettingsError, match="SMS_BACKEND must be africastalking in production"):
        Settings.from_env({**PRODUCTION, "SMS_BACKEND": backend})


def test_production_refuses_a_gateway_secret_under_32_characters_without_echoing_it() -> None:
    short = "g" * 31
    with pytest.raises(SettingsError, match="GATEWAY_SECRET") as excinfo:
        Settings.from_env({**PRODUCTION, "GATEWAY_SECRET": short})
    assert short not in str(excinfo.value)
    assert Settings.from_env({**PRODUCTION, "GATEWAY_SECRET": "g" * 32}).gateway_secret == "g" * 32


@pytest.mark.parametrize("pepper", ["p" * 16, "p" * 31, DEV_PEPPER])
def test_production_refuses_a_short_or_dev_pin_pepper_without_echoing_it(pepper: str) -> None:
    with pytest.raises(SettingsError, match="PIN_PEPPER") as excinfo:
        Settings.from_env({**PRODUCTION, "PIN_PEPPER": pepper})
    assert pepper not in str(excinfo.value)


def test_production_names_every_missing_piece_at_once() -> None:
    with pytest.raises(SettingsError) as excinfo:
        Settings.from_env({"ENERLECTRA_ENV": "production"})
    for variable in ("PIN_PEPPER", "GATEWAY_SECRET", "SMS_BACKEND"):
        assert variable in str(excinfo.value)


@pytest.mark.parametrize("var", ["GATEWAY_ALLOWED_IPS", "TRUSTED_PROXIES"])
def test_a_bad_network_is_refused_naming_the_variable(var: str) -> None:
    with pytest.raises(SettingsError, match=var):
        Settings.from_env({var: "10.0.0.0/8, gateway.example"})
    assert len(getattr(Settings.from_env({var: "10.0.0.0/8, 192.168.1.7, 2001:db8::/32"}), var.lower())) == 3


@pytest.mark.parametrize("user", ["at:x", ":"])
def test_a_basic_auth_user_with_a_colon_is_refused_naming_the_variable(user: str) -> None:
    with pytest.raises(SettingsError, match="GATEWAY_USER"):
        Settings.from_env({"GATEWAY_USER": user})


def test_a_given_environment_is_read_alone_never_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENERLECTRA_ENV", "production")
    monkeypatch.setenv("PORT", "1234")
    monkeypatch.setenv("PIN_PEPPER", "leaked-" + SECRET)
    assert Settings.from_env({"TRADE_FEE_BPS": "7"}) == Settings.from_env({}).model_copy(update={"trade_fee_bps": 7})
    assert Settings.from_env({}).pin_pepper == DEV_PEPPER


def test_without_a_mapping_the_process_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "environ", {"PORT": "8123", "STARTING_CREDIT": "2.50"})
    settings = Settings.from_env()
    assert (settings.port, settings.starting_credit_ngwee) == (8123, 250)


def test_settings_built_by_hand_are_what_they_are_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "1234")
    monkeypatch.setenv("SMS_BACKEND", "africastalking")
    settings = Settings(sms_backend="inbox", ussd_service_codes=("*1#",))
    assert (settings.port, settings.sms_backend, settings.shortcode) == (8000, "inbox", "*1#")


def test_only_the_documented_spelling_of_a_variable_is_read() -> None:
    assert Settings.from_env({"port": "1234", "Port": "1234", "pin_pepper": "x"}) == Settings.from_env({})


def test_the_server_defaults_are_the_engine_defaults() -> None:
    """Defaults have one home: EngineConfig's, which Settings converts to its variables' units."""
    assert Settings().engine_config() == EngineConfig()
    assert Settings.from_env({}).engine_config() == EngineConfig()


@pytest.mark.parametrize(
    ("var", "bad"),
    [
        ("SMS_BACKEND", "carrier-pigeon"),
        ("GATEWAY_AUTH", "digest"),
        ("LOG_LEVEL", "loud"),
        ("PIN_LOCK_MINUTES", "30,soon"),
        ("PIN_LOCK_MINUTES", "1,2,3,4,5,6"),
        ("MIN_TRANSFER_KWH", "0"),
        ("MIN_TRANSFER_KWH", "a lot"),
        ("BODY_READ_TIMEOUT_S", "0"),
        ("DATABASE_POOL_SIZE", "many"),
        ("WEB_WORKERS", "-1"),
        ("RESUME_WINDOW_S", "0"),
    ],
)
def test_an_unknown_or_invalid_value_is_refused_naming_the_variable_and_what_was_written(var: str, bad: str) -> None:
    with pytest.raises(SettingsError) as excinfo:
        Settings.from_env({var: bad})
    assert f"{var}={bad!r}" in str(excinfo.value)


def test_every_bad_variable_is_named_at_once() -> None:
    with pytest.raises(SettingsError) as excinfo:
        Settings.from_env({"PORT": "abc", "HOPS_PER_MINUTE": "0", "STARTING_CREDIT": "lots"})
    for variable in ("PORT", "HOPS_PER_MINUTE", "STARTING_CREDIT"):
        assert variable in str(excinfo.value)


def test_a_bad_dev_pepper_is_refused_without_echoing_it() -> None:
    with pytest.raises(SettingsError, match="PIN_PEPPER") as excinfo:
        Settings.from_env({"PIN_PEPPER": "tiny-secret"})
    assert "tiny-secret" not in str(excinfo.value)


@pytest.mark.parametrize(("text", "wh"), [("0.1", 100), ("2", 2000), ("1.5 kWh", 1500)])
def test_the_smallest_transfer_is_written_in_kwh(text: str, wh: int) -> None:
    assert Settings.from_env({"MIN_TRANSFER_KWH": text}).min_transfer_wh == wh


def test_lists_are_comma_separated_with_blanks_ignored() -> None:
    settings = Settings.from_env({"REGION_ORDER": " Kabwe , Lusaka,, ", "PIN_LOCK_MINUTES": "5, 60"})
    assert settings.region_order == ("Kabwe", "Lusaka")
    assert settings.pin_lock_minutes == (5, 60)


def test_a_log_level_is_accepted_in_any_case() -> None:
    assert Settings.from_env({"LOG_LEVEL": "debug"}).log_level == "DEBUG"


def test_gateway_and_sms_secrets_are_not_shown_when_settings_are_printed() -> None:
    settings = Settings.from_env({**PRODUCTION, "AT_API_KEY": "at-" + SECRET})
    for secret in (SECRET, "gw-" + SECRET, "at-" + SECRET):
        assert secret not in repr(settings)


def test_passwords_in_database_and_redis_urls_are_not_shown_when_settings_are_printed() -> None:
    settings = Settings.from_env(
        {"DATABASE_URL": "postgresql://app:db-password@db:5432/enerlectra", "REDIS_URL": "redis://:redis-password@r/0"}
    )
    assert settings.database_url == "postgresql://app:db-password@db:5432/enerlectra"
    assert "db-password" not in repr(settings)
    assert "redis-password" not in repr(settings)
    assert "postgresql://app:***@db:5432/enerlectra" in repr(settings)


def test_a_provider_in_production_needs_a_long_callback_secret_and_its_credentials() -> None:
    mtn = {"MTN_BASE_URL": "https://proxy.momoapi.mtn.com", "MTN_API_USER": "u", "MTN_API_KEY": "k"}
    with pytest.raises(SettingsError, match="MTN_CALLBACK_SECRET") as short:
        Settings.from_env({**PRODUCTION, **mtn, "MTN_COLLECTION_KEY": "c", "MTN_CALLBACK_SECRET": "x" * 20})
    assert "x" * 20 not in str(short.value)
    with pytest.raises(SettingsError, match="MTN_COLLECTION_KEY"):
        Settings.from_env({**PRODUCTION, **mtn, "MTN_CALLBACK_SECRET": SECRET})
    settings = Settings.from_env({**PRODUCTION, **mtn, "MTN_COLLECTION_KEY": "c", "MTN_CALLBACK_SECRET": SECRET})
    assert settings.mtn_base_url.startswith("https://")
    assert not settings.airtel_base_url  # a provider with no URL is off


def test_the_polling_schedule_is_whole_seconds_and_reaches_the_engine() -> None:
    settings = Settings.from_env({"PAYMENT_POLL_SCHEDULE_S": "2, 10,60", "PAYMENT_GIVE_UP_HOURS": "12"})
    config = settings.payment_config()
    assert config.poll_schedule_s == (2, 10, 60)
    assert config.give_up_after_s == 12 * 3600
    with pytest.raises(SettingsError, match="PAYMENT_POLL_SCHEDULE_S"):
        Settings.from_env({"PAYMENT_POLL_SCHEDULE_S": "5,0"})


EXAMPLE_LIMITS = Path(__file__).resolve().parents[2] / "docs" / "examples" / "kyc-limits.toml"


def test_kyc_limits_come_from_a_file_with_their_source_and_the_example_is_the_default(tmp_path: Path) -> None:
    example = Settings.from_env({"KYC_LIMITS_FILE": str(EXAMPLE_LIMITS)}).payment_config()
    assert dict(example.tiers) == dict(DEFAULT_TIERS)
    edited = EXAMPLE_LIMITS.read_text().replace('per_day = "20000.00"', 'per_day = "15000.50"')
    (tmp_path / "limits.toml").write_text(edited)
    tier1 = Settings.from_env({"KYC_LIMITS_FILE": str(tmp_path / "limits.toml")}).payment_config().tier(1)
    assert tier1.per_day == 1_500_050
    (tmp_path / "bad.toml").write_text(edited.replace('source = "Bank', 'source = "" # "Bank', 1))
    with pytest.raises(SettingsError, match="must say where its figures come from"):
        Settings.from_env({"KYC_LIMITS_FILE": str(tmp_path / "bad.toml")})
    with pytest.raises(SettingsError, match="KYC_LIMITS_FILE"):
        Settings.from_env({"KYC_LIMITS_FILE": str(tmp_path / "missing.toml")})


def test_mobile_money_prefixes_are_configuration() -> None:
    config = Settings.from_env({"MOBILE_MONEY_PREFIXES": "96=mtn, 55=airtel"}).payment_config()
    assert config.provider_for("+260551234567") is Provider.AIRTEL
    assert config.provider_for("+260971234567") is None  # no longer listed: no mobile money
    with pytest.raises(SettingsError, match="MOBILE_MONEY_PREFIXES"):
        Settings.from_env({"MOBILE_MONEY_PREFIXES": "96=mpesa"})
