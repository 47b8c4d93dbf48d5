"""What reaches the log from a request: one line per record, whatever the caller sends; phones masked."""

from __future__ import annotations

import logging

import pytest

from tests.e2e.conftest import running_app
from tests.support.gateway import SERVICE_CODE, check_reply
from tests.support.phones import unique_phone
from ussd_server.logfields import log_phone

FORGED = "\n2026-12-01 INFO forged"


def one_line_records(caplog: pytest.LogCaptureFixture, needle: str) -> list[str]:
    """Formatted log lines mentioning ``needle``; fails if any record would print on several lines."""
    for record in caplog.records:
        assert "\n" not in record.getMessage(), f"a record spans lines: {record.getMessage()!r}"
    return [line for line in caplog.text.splitlines() if needle in line]


async def test_a_newline_in_a_session_id_cannot_forge_a_log_line(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="enerlectra")
    async with running_app({"DATABASE_URL": sqlite_url}, seed=False) as world:
        phone = unique_phone()
        hop = {"sessionId": "ATUid_1" + FORGED, "serviceCode": SERVICE_CODE, "phoneNumber": phone, "text": ""}
        check_reply(await world.gateway.post("/ussd", hop))
    lines = one_line_records(caplog, "forged")
    assert len(lines) == 1, lines
    assert "session=ATUid_1\\n2026-12-01 INFO forged" in lines[0]
    assert "hop " in lines[0]
    assert f"phone={log_phone(phone)}" in lines[0]
    assert phone not in caplog.text, "the caller's number is masked"


async def test_end_of_session_notifications_cannot_forge_log_lines(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="enerlectra")
    async with running_app({"DATABASE_URL": sqlite_url}, seed=False) as world:
        event = {"sessionId": "ATUid_2" + FORGED, "status": "Success" + FORGED, "hopsCount": "2"}
        assert (await world.gateway.post("/ussd/events", event)).status == 200
    lines = one_line_records(caplog, "forged")
    assert len(lines) == 1, lines
    assert "session-end" in lines[0]
    assert lines[0].count("\\n2026") == 2, "the session id and the status, both escaped"


async def test_delivery_reports_are_logged_on_one_line_with_the_number_masked(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="enerlectra")
    async with running_app({"DATABASE_URL": sqlite_url}, seed=False) as world:
        report = {
            "id": "ATXid_1" + FORGED,
            "status": "Failed",
            "phoneNumber": "+260977123456",
            "failureReason": "UserInBlacklist" + FORGED,
        }
        assert (await world.gateway.post("/sms/delivery", report)).status == 200
    lines = one_line_records(caplog, "forged")
    assert len(lines) == 1, lines
    assert "sms-delivery" in lines[0]
    assert "phone=+26097*****56" in lines[0]
    assert "+260977123456" not in caplog.text
