"""The SMS outbox worker on both backends: real outbox rows, a scripted SMS provider.

The provider is the only fake (it is not ours); the rows come from real
registrations and trades in a real database.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Iterable
from typing import Any

import pytest

from engine.identity.model import User
from engine.kernel.clock import ManualClock
from engine.kernel.language import Language
from engine.notifications.model import OutboxMessage, OutboxStatus
from engine.notifications.ports import OutboxQueue
from engine.platform import Platform
from engine.uow import Database as Store
from tests.conftest import StoreOpener
from ussd_server.i18n import Catalogs
from ussd_server.settings import Settings
from ussd_server.sms.backends import InboxBackend, SendResult, SmsBackend
from ussd_server.sms.delivery_reports import (
    DeliveryStatus,
    InvalidDeliveryReport,
    apply_delivery_report,
    parse_delivery_report,
)
from ussd_server.sms.worker import RETRY_CAP_S, OutboxWorker, retry_delay_s

MWILA, CHIPO = "+260977123456", "+260966123456"
SHORTCODE = "*384*2025#"


@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    return Catalogs.load()


def settings(**overrides: Any) -> Settings:
    return Settings(sms_backend="inbox", ussd_service_codes=(SHORTCODE,), **overrides)


class ScriptedProvider:
    """An SMS provider that answers from a script (then keeps answering with the last entry)."""

    def __init__(self, *answers: SendResult, delay_s: float = 0.0) -> None:
        self.answers = list(answers) or [SendResult("sent")]
        self.delay_s = delay_s
        self.sent: list[tuple[str, str]] = []

    async def send(self, to: str, text: str) -> SendResult:
        self.sent.append((to, text))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)  # lets concurrent workers interleave
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if answer.status == "sent" and not answer.provider_ref:
            return SendResult("sent", provider_ref=f"ATXid_{len(self.sent)}")
        return answer

    async def close(self) -> None:
        return None


def worker(
    queue: OutboxQueue, backend: SmsBackend, catalogs: Catalogs, clock: ManualClock, **overrides: Any
) -> OutboxWorker:
    return OutboxWorker(queue, backend, catalogs, settings(**overrides), clock, rng=random.Random(7))


async def register(platform: Platform, phone: str, language: str = "en", name: str = "Mwila") -> User:
    return await platform.users.register(phone=phone, name=name, language=language, pin="5173")


async def statuses(store: Store, phone: str) -> list[OutboxStatus]:
    return [row.status for row in await store.outbox.list_outbox(recipient=phone)]


async def test_each_user_gets_the_sms_in_their_own_language(
    platform: Platform, catalogs: Catalogs, clock: ManualClock
) -> None:
    await register(platform, MWILA, "en")
    await register(platform, CHIPO, "ny", "Chipo")
    inbox = InboxBackend()
    assert await worker(platform.sms_outbox, inbox, catalogs, clock).run_once() == 2
    (english,) = inbox.messages(MWILA)
    (nyanja,) = inbox.messages(CHIPO)
    assert (
        english.text == "Welcome to Enerlectra! We added K5.00 to your wallet to start. "
        f"Dial {SHORTCODE} to buy, sell and send solar energy."
    )
    assert nyanja.text.startswith("Takulandirani ku Enerlectra! Takuikirani K5.00 mu wallet")
    assert SHORTCODE in nyanja.text
    for phone in (MWILA, CHIPO):
        (row,) = await platform.store.outbox.list_outbox(recipient=phone)
        assert (row.status, row.attempts) == (OutboxStatus.SENT, 1)
        assert row.provider_ref.startswith("inbox-")


async def test_a_trade_receipt_reaches_the_buyer_in_nyanja(
    platform: Platform, catalogs: Catalogs, clock: ManualClock
) -> None:
    seller = await register(platform, MWILA, "en")
    await register(platform, CHIPO, "ny", "Chipo")
    cluster_id = "lsk-test-micro"
    await platform.clusters.create(
        cluster_id=cluster_id,
        name="Test Micro-Grid",
        kind="micro",
        region="Lusaka",
        capacity_wh=10_000,
        price_ngwee_per_kwh=120,
    )
    await platform.clusters.buy(buyer=seller, cluster_id=cluster_id, wh=3000, operation_id="setup")
    receipt = await platform.trading.trade(seller=seller, buyer_phone=CHIPO, wh=1500)
    inbox = InboxBackend()
    sms_worker = worker(platform.sms_outbox, inbox, catalogs, clock)
    while await sms_worker.run_once():
        pass
    texts = [m.text for m in inbox.messages(CHIPO)]
    bought = [t for t in texts if t.startswith("Enerlectra: mwagula 1.5 kWh kwa 0977123456 pa K1.80")]
    assert len(bought) == 1
    assert receipt.reference[:5] in bought[0]
    assert await platform.store.outbox_queue.outbox_counts() == {**dict.fromkeys(OutboxStatus, 0), OutboxStatus.SENT: 5}


async def test_a_passing_failure_is_retried_with_backoff_until_it_is_sent(
    platform: Platform, catalogs: Catalogs, clock: ManualClock
) -> None:
    await register(platform, MWILA)
    provider = ScriptedProvider(
        SendResult("retry", error="500 InternalServerError"),
        SendResult("retry", error="no answer within 10 s"),
        SendResult("sent", provider_ref="ATXid_ok"),
    )
    sms_worker = worker(platform.sms_outbox, provider, catalogs, clock)
    assert await sms_worker.run_once() == 1
    (row,) = await platform.store.outbox.list_outbox(recipient=MWILA)
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.FAILED, 1, "500 InternalServerError")
    assert await sms_worker.run_once() == 0  # not due yet
    clock.advance(5)  # first backoff: at most 5 s
    assert await sms_worker.run_once() == 1
    assert await sms_worker.run_once() == 0
    clock.advance(10)  # second backoff: at most 10 s
    assert await sms_worker.run_once() == 1
    (row,) = await platform.store.outbox.list_outbox(recipient=MWILA)
    assert (row.status, row.attempts, row.provider_ref) == (OutboxStatus.SENT, 3, "ATXid_ok")
    assert len(provider.sent) == 3
    assert len(set(provider.sent)) == 1  # the same text every time


async def test_a_message_that_keeps_failing_goes_dead_after_the_attempt_limit(
    platform: Platform, catalogs: Catalogs, clock: ManualClock
) -> None:
    await register(platform, MWILA)
    provider = ScriptedProvider(SendResult("retry", error="501 GatewayError"))
    sms_worker = worker(platform.sms_outbox, provider, catalogs, clock, sms_max_attempts=3)
    for _ in range(10):
        await sms_worker.run_once()
        clock.advance(RETRY_CAP_S)
    (row,) = await platform.store.outbox.list_outbox(recipient=MWILA)
    assert (row.status, row.attempts) == (OutboxStatus.DEAD, 3)
    assert row.last_error == "gave up after 3 attempts: 501 GatewayError"
    assert len(provider.sent) == 3


async def test_a_permanent_refusal_goes_dead_at_once(
    platform: Platform, catalogs: Catalogs, clock: ManualClock
) -> None:
    await register(platform, MWILA)
    provider = ScriptedProvider(SendResult("failed", error="406 UserInBlacklist"))
    sms_worker = worker(platform.sms_outbox, provider, catalogs, clock)
    await sms_worker.run_once()
    clock.advance(RETRY_CAP_S * 10)
    assert await sms_worker.run_once() == 0
    (row,) = await platform.store.outbox.list_outbox(recipient=MWILA)
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.DEAD, 1, "406 UserInBlacklist")


class ExplodingForChipo(ScriptedProvider):
    async def send(self, to: str, text: str) -> SendResult:
        if to == CHIPO:
            raise RuntimeError("provider bug")
        return await super().send(to, text)


async def test_a_row_with_an_unknown_template_goes_dead_and_the_rest_are_sent(
    platform: Platform, catalogs: Catalogs, clock: ManualClock
) -> None:
    unknown = OutboxMessage("op-x:user", CHIPO, Language.BEMBA, "sms.no_such_template", {})
    await platform.store.atomic(lambda tx: tx.outbox.add_outbox([unknown]))
    await register(platform, MWILA)
    provider = ScriptedProvider()
    assert await worker(platform.sms_outbox, provider, catalogs, clock).run_once() == 2
    (dead,) = await platform.store.outbox.list_outbox(recipient=CHIPO)
    assert (dead.status, dead.last_error) == (OutboxStatus.DEAD, "unknown template 'sms.no_such_template'")
    assert await statuses(platform.store, MWILA) == [OutboxStatus.SENT]
    assert [to for to, _ in provider.sent] == [MWILA]


async def test_a_backend_that_raises_is_a_passing_failure_for_that_row_only(
    platform: Platform, catalogs: Catalogs, clock: ManualClock
) -> None:
    await register(platform, CHIPO, "ny", "Chipo")
    await register(platform, MWILA)
    assert await worker(platform.sms_outbox, ExplodingForChipo(), catalogs, clock).run_once() == 2
    (row,) = await platform.store.outbox.list_outbox(recipient=CHIPO)
    assert (row.status, row.last_error) == (OutboxStatus.FAILED, "backend raised RuntimeError: provider bug")
    assert await statuses(platform.store, MWILA) == [OutboxStatus.SENT]


async def test_a_worker_that_dies_after_claiming_loses_nothing(
    platform: Platform, catalogs: Catalogs, clock: ManualClock
) -> None:
    await register(platform, MWILA)
    inbox = InboxBackend()
    sms_worker = worker(platform.sms_outbox, inbox, catalogs, clock)
    # A worker claims the row, perhaps sends it, and dies before recording the outcome.
    (claimed,) = await platform.store.outbox_queue.claim_outbox(limit=16, lease_s=sms_worker.lease_s)
    assert await sms_worker.run_once() == 0  # leased: nobody else touches it meanwhile
    assert await statuses(platform.store, MWILA) == [OutboxStatus.PENDING]  # still there
    clock.advance(sms_worker.lease_s)
    assert await sms_worker.run_once() == 1
    (row,) = await platform.store.outbox.list_outbox(recipient=MWILA)
    assert (row.id, row.status, row.attempts) == (claimed.id, OutboxStatus.SENT, 2)
    assert len(inbox.messages(MWILA)) == 1


class DatabaseGoneAfterSend:
    """An outbox whose writes fail after the provider accepted the message (the worker's process dies)."""

    def __init__(self, queue: OutboxQueue) -> None:
        self._queue = queue

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queue, name)

    async def mark_outbox_sent(self, row_id: int, provider_ref: str, *, attempt: int | None = None) -> bool:
        raise ConnectionError("database went away")


async def test_a_send_whose_outcome_was_never_recorded_is_sent_again(
    platform: Platform, catalogs: Catalogs, clock: ManualClock
) -> None:
    """At least once: a duplicate SMS is better than a lost receipt."""
    await register(platform, MWILA)
    inbox = InboxBackend()
    crashing = worker(DatabaseGoneAfterSend(platform.sms_outbox), inbox, catalogs, clock)
    assert await crashing.run_once() == 1  # the error stays inside the worker
    assert len(inbox.messages(MWILA)) == 1
    assert await statuses(platform.store, MWILA) == [OutboxStatus.PENDING]
    clock.advance(crashing.lease_s)
    assert await worker(platform.sms_outbox, inbox, catalogs, clock).run_once() == 1
    assert len(inbox.messages(MWILA)) == 2
    assert await statuses(platform.store, MWILA) == [OutboxStatus.SENT]


def phones(count: int) -> Iterable[str]:
    for n in range(count):
        yield f"+26097{n:07d}"


async def test_concurrent_workers_never_send_a_row_twice(
    platform: Platform, catalogs: Catalogs, clock: ManualClock, open_test_store: StoreOpener
) -> None:
    everyone = list(phones(24))
    for phone in everyone:
        await register(platform, phone)
    provider = ScriptedProvider(delay_s=0.005)
    stores = [platform.store, *[await open_test_store() for _ in range(2)]]
    workers = [
        OutboxWorker(s.outbox_queue, provider, catalogs, settings(), clock, batch_size=4, concurrency=2) for s in stores
    ]

    async def drain(w: OutboxWorker) -> int:
        total = 0
        while claimed := await w.run_once():
            total += claimed
        return total

    handled = await asyncio.gather(*(drain(w) for w in workers))
    assert sum(handled) == len(everyone)
    assert sum(1 for n in handled if n) > 1  # they really did share the work
    assert Counter(to for to, _ in provider.sent) == dict.fromkeys(everyone, 1)
    assert await platform.store.outbox_queue.outbox_counts() == {
        **dict.fromkeys(OutboxStatus, 0),
        OutboxStatus.SENT: 24,
    }


async def test_wake_delivers_without_waiting_for_the_poll_interval(
    platform: Platform, catalogs: Catalogs, clock: ManualClock
) -> None:
    inbox = InboxBackend()
    sms_worker = worker(platform.sms_outbox, inbox, catalogs, clock, sms_poll_interval_s=60)
    stop = asyncio.Event()
    running = asyncio.create_task(sms_worker.run_forever(stop))
    await asyncio.sleep(0.05)  # first poll found nothing; now it sleeps for a minute
    await register(platform, MWILA)
    sms_worker.wake()
    (welcome,) = await inbox.wait_for(MWILA, 1, timeout=5)
    assert welcome.text.startswith("Welcome to Enerlectra!")
    stop.set()
    await asyncio.wait_for(running, timeout=5)


async def test_delivery_reports_settle_sent_messages(
    platform: Platform, catalogs: Catalogs, clock: ManualClock
) -> None:
    await register(platform, MWILA)
    await register(platform, CHIPO, "ny", "Chipo")
    provider = ScriptedProvider(SendResult("sent", provider_ref="ATXid_a"), SendResult("sent", provider_ref="ATXid_b"))
    await worker(platform.sms_outbox, provider, catalogs, clock).run_once()
    progress = parse_delivery_report({"id": "ATXid_a", "status": "Buffered", "phoneNumber": MWILA})
    assert not await apply_delivery_report(platform.sms_outbox, progress)
    assert await statuses(platform.store, MWILA) == [OutboxStatus.SENT]
    success = parse_delivery_report(
        {"id": "ATXid_a", "status": "Success", "phoneNumber": MWILA, "networkCode": "64502"}
    )
    assert await apply_delivery_report(platform.sms_outbox, success)
    assert not await apply_delivery_report(platform.sms_outbox, success)  # AT repeats callbacks
    failure = parse_delivery_report(
        {"id": "ATXid_b", "status": "AbsentSubscriber", "phoneNumber": CHIPO, "failureReason": "AbsentSubscriber"}
    )
    assert await apply_delivery_report(platform.sms_outbox, failure)
    assert await statuses(platform.store, MWILA) == [OutboxStatus.DELIVERED]
    (row,) = await platform.store.outbox.list_outbox(recipient=CHIPO)
    assert (row.status, row.last_error) == (OutboxStatus.DEAD, "delivery AbsentSubscriber: AbsentSubscriber")
    unknown = parse_delivery_report({"id": "ATXid_never", "status": "Success"})
    assert not await apply_delivery_report(platform.sms_outbox, unknown)


def test_a_delivery_report_form_is_read_as_africas_talking_sends_it() -> None:
    report = parse_delivery_report(
        {
            "id": "ATXid_f0e4",
            "status": "Failed",
            "phoneNumber": "+260977123456",
            "networkCode": "64501",
            "failureReason": "UserInBlacklist",
            "retryCount": "0",
        }
    )
    assert (report.provider_ref, report.status, report.failure_reason, report.phone) == (
        "ATXid_f0e4",
        DeliveryStatus.FAILED,
        "UserInBlacklist",
        "+260977123456",
    )
    assert report.is_final
    assert not report.delivered
    assert parse_delivery_report({"id": "x", "status": "Success"}).delivered
    assert not parse_delivery_report({"id": "x", "status": "Submitted"}).is_final


@pytest.mark.parametrize(
    "form", [{"status": "Success"}, {"id": " ", "status": "Success"}, {"id": "x", "status": "Lost"}]
)
def test_a_malformed_delivery_report_is_refused(form: dict[str, str]) -> None:
    with pytest.raises(InvalidDeliveryReport):
        parse_delivery_report(form)


def test_retry_delays_double_up_to_ten_minutes_with_jitter_below() -> None:
    rng = random.Random(1)
    for attempts, nominal in [(1, 5), (2, 10), (3, 20), (4, 40), (8, 600), (30, 600)]:
        delays = [retry_delay_s(attempts, rng) for _ in range(50)]
        assert all(0.8 * nominal <= d <= nominal for d in delays)
        assert len(set(delays)) > 1  # spread out, so a burst of failures does not return as one burst


async def test_the_worker_lease_outlasts_a_whole_batch(store: Store, catalogs: Catalogs) -> None:
    sms_worker = OutboxWorker(
        store.outbox_queue, InboxBackend(), catalogs, settings(sms_timeout_s=10), batch_size=16, concurrency=4
    )
    assert sms_worker.lease_s > 4 * 10  # four rounds of four sends, each up to the timeout
