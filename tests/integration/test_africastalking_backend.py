"""The Africa's Talking backend, through the real SDK, against a local stub of AT's SMS API."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

import pytest

from engine.kernel.clock import ManualClock
from engine.notifications.model import OutboxStatus
from engine.platform import Platform
from tests.integration.at_sms_stub import Answer, AtSmsStub
from ussd_server.i18n import Catalogs
from ussd_server.settings import Settings
from ussd_server.sms.africastalking_backend import AfricasTalkingBackend
from ussd_server.sms.backends import SendResult, build_backend
from ussd_server.sms.delivery_reports import apply_delivery_report, parse_delivery_report
from ussd_server.sms.worker import OutboxWorker

API_KEY = "atsk_test_0123456789abcdef0123456789abcdef"
PHONE = "+260977123456"
TIMEOUT_S = 0.5


@pytest.fixture
async def stub(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[AtSmsStub]:
    # requests honours proxy variables; the stub is on loopback.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    server = AtSmsStub()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def at(stub: AtSmsStub, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[AfricasTalkingBackend]:
    backend = AfricasTalkingBackend("sandbox", API_KEY, sender_id="ENERLECTRA", timeout_s=TIMEOUT_S)
    # The SDK joins its base URL (https://api.sandbox.africastalking.com/version1
    # for the sandbox user) and the path; point that base at the stub.
    assert backend.sdk._make_url("/messaging") == "https://api.sandbox.africastalking.com/version1/messaging"
    monkeypatch.setattr(backend.sdk, "_baseUrl", f"{stub.base_url}/version1")
    yield backend
    await backend.close()


async def test_an_accepted_message_is_sent_with_its_message_id(at: AfricasTalkingBackend, stub: AtSmsStub) -> None:
    result = await at.send(PHONE, "Muli ndi K5.00 mu wallet.")
    assert result == SendResult("sent", provider_ref="ATXid_00000001")
    (request,) = stub.requests
    assert request.api_key == API_KEY
    assert request.accept == "application/json"
    assert request.form["username"] == "sandbox"
    assert request.form["to"] == PHONE
    assert request.form["message"] == "Muli ndi K5.00 mu wallet."
    assert request.form["from"] == "ENERLECTRA"


async def test_json_with_a_charset_is_read_too(at: AfricasTalkingBackend, stub: AtSmsStub) -> None:
    # The SDK only parses an exact "application/json"; anything else reaches us as text.
    stub.answer = Answer(content_type="application/json; charset=utf-8")
    assert await at.send(PHONE, "hi") == SendResult("sent", provider_ref="ATXid_00000001")


async def test_without_a_sender_id_the_account_default_is_used(
    stub: AtSmsStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = AfricasTalkingBackend("sandbox", API_KEY, sender_id=None, timeout_s=TIMEOUT_S)
    monkeypatch.setattr(backend.sdk, "_baseUrl", f"{stub.base_url}/version1")
    try:
        assert (await backend.send(PHONE, "hi")).status == "sent"
    finally:
        await backend.close()
    assert "from" not in stub.requests[0].form


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (100, SendResult("sent", provider_ref="ATXid_00000001")),
        (102, SendResult("sent", provider_ref="ATXid_00000001")),
        (403, SendResult("failed", error="403 InvalidPhoneNumber")),
        (406, SendResult("failed", error="406 UserInBlacklist")),
        (405, SendResult("retry", error="405 InsufficientBalance")),
        (500, SendResult("retry", error="500 InternalServerError")),
        (599, SendResult("retry", error="599 Unknown")),
    ],
)
async def test_recipient_status_codes(
    at: AfricasTalkingBackend, stub: AtSmsStub, code: int, expected: SendResult
) -> None:
    stub.answer = Answer(status_code=code)
    assert await at.send(PHONE, "hi") == expected


async def test_an_http_error_is_retried(at: AfricasTalkingBackend, stub: AtSmsStub) -> None:
    stub.answer = Answer(http_status=401)
    result = await at.send(PHONE, "hi")
    assert result.status == "retry"
    assert "authentication is invalid" in result.error
    assert API_KEY not in result.error


async def test_a_request_refused_as_a_whole_is_retried(at: AfricasTalkingBackend, stub: AtSmsStub) -> None:
    stub.answer = Answer(no_recipients=True)
    assert await at.send(PHONE, "hi") == SendResult("retry", error="no recipient accepted: InvalidSenderId")


@pytest.mark.parametrize("body", ["<html>502 Bad Gateway</html>", '{"SMSMessageData": {}}', "[]", '{"x": 1}'])
async def test_garbage_is_retried(at: AfricasTalkingBackend, stub: AtSmsStub, body: str) -> None:
    stub.answer = Answer(body=body)
    result = await at.send(PHONE, "hi")
    assert result.status == "retry"
    assert result.error


async def test_a_provider_that_hangs_is_retried_within_the_timeout(at: AfricasTalkingBackend, stub: AtSmsStub) -> None:
    stub.answer = Answer(hang=True)
    started = time.monotonic()
    result = await at.send(PHONE, "hi")
    elapsed = time.monotonic() - started
    assert result == SendResult("retry", error="no answer within 0.5 s")
    assert TIMEOUT_S * 0.9 <= elapsed < TIMEOUT_S + 0.5


async def test_an_unreachable_provider_is_retried(stub: AtSmsStub) -> None:
    backend = AfricasTalkingBackend("sandbox", API_KEY, timeout_s=TIMEOUT_S)
    backend.sdk._baseUrl = "http://127.0.0.1:9/version1"  # discard port: connection refused
    try:
        result = await backend.send(PHONE, "hi")
    finally:
        await backend.close()
    assert result.status == "retry"
    assert result.error.startswith("ConnectionError")


async def test_a_number_that_is_not_e164_fails_without_a_request(at: AfricasTalkingBackend, stub: AtSmsStub) -> None:
    assert await at.send("0977123456", "hi") == SendResult("failed", error="recipient is not an E.164 number")
    assert stub.requests == []


async def test_the_api_key_never_reaches_the_log_or_repr(
    at: AfricasTalkingBackend, stub: AtSmsStub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for answer in (Answer(), Answer(http_status=500), Answer(body="garbage")):
        stub.answer = answer
        await at.send(PHONE, "hi")
    assert API_KEY not in caplog.text
    assert API_KEY not in repr(at)


async def test_settings_choose_the_backend() -> None:
    backend = build_backend(Settings(sms_backend="africastalking", at_api_key=API_KEY, at_sender_id="ENERLECTRA"))
    try:
        assert isinstance(backend, AfricasTalkingBackend)
        assert backend.sdk._make_url("/messaging") == "https://api.sandbox.africastalking.com/version1/messaging"
    finally:
        await backend.close()
    live = build_backend(Settings(sms_backend="africastalking", at_username="enerlectra", at_api_key=API_KEY))
    try:
        assert isinstance(live, AfricasTalkingBackend)
        assert live.sdk._make_url("/messaging") == "https://api.africastalking.com/version1/messaging"
    finally:
        await live.close()


async def test_an_outbox_row_travels_to_africas_talking_and_back(
    platform: Platform, clock: ManualClock, at: AfricasTalkingBackend, stub: AtSmsStub
) -> None:
    """Registration queues a Nyanja welcome; the worker sends it; AT's delivery report settles it."""
    await platform.users.register(phone=PHONE, name="Chipo", language="ny", pin="5173")
    settings = Settings(sms_backend="africastalking", at_api_key=API_KEY, sms_timeout_s=TIMEOUT_S)
    assert await OutboxWorker(platform.sms_outbox, at, Catalogs.load(), settings, clock).run_once() == 1
    (request,) = stub.requests
    assert request.form["message"].startswith("Takulandirani ku Enerlectra! Takuikirani K5.00 mu wallet")
    (row,) = await platform.store.outbox.list_outbox(recipient=PHONE)
    assert (row.status, row.provider_ref) == (OutboxStatus.SENT, "ATXid_00000001")
    report = parse_delivery_report({"id": "ATXid_00000001", "status": "Success", "phoneNumber": PHONE})
    assert await apply_delivery_report(platform.sms_outbox, report)
    (row,) = await platform.store.outbox.list_outbox(recipient=PHONE)
    assert row.status is OutboxStatus.DELIVERED
