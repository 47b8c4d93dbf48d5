"""What the gateway authentication warns an operator about at start-up (ussd_server/auth.py)."""

from __future__ import annotations

from tests.conftest import PRODUCTION
from ussd_server.auth import startup_warnings
from ussd_server.settings import Settings


def test_production_without_an_address_allow_list_is_warned_about() -> None:
    warnings = startup_warnings(Settings.from_env(PRODUCTION))
    assert len(warnings) == 1
    assert "GATEWAY_ALLOWED_IPS" in warnings[0]
    assert "any address" in warnings[0]


def test_token_mode_in_production_is_warned_about() -> None:
    settings = Settings.from_env({**PRODUCTION, "GATEWAY_AUTH": "token", "GATEWAY_ALLOWED_IPS": "10.0.0.0/8"})
    warnings = startup_warnings(settings)
    assert len(warnings) == 1
    assert "GATEWAY_AUTH=basic" in warnings[0]


def test_a_complete_production_setup_and_dev_mode_start_quietly() -> None:
    assert startup_warnings(Settings.from_env({**PRODUCTION, "GATEWAY_ALLOWED_IPS": "10.0.0.0/8"})) == []
    assert startup_warnings(Settings.from_env({"GATEWAY_AUTH": "token"})) == []
