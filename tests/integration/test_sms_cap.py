"""The daily SMS cap on both backends: real operations, real outbox rows, the real worker.

Two numbers passing energy back and forth must not cost us an SMS per gift
forever: past ``sms_daily_cap`` ordinary SMS a recipient's messages are kept
folded (never sent) and one daily summary goes out instead. Security SMS are
never capped.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import replace

import pytest

from engine.energy.model import ClusterKind
from engine.identity.model import User
from engine.kernel import local_time
from engine.kernel.clock import MICROS_PER_SECOND, ManualClock
from engine.kernel.language import Language
from engine.notifications import outbox as notifications
from engine.notifications.model import OutboxMessage, OutboxRow, OutboxStatus
from engine.platform import Platform
from engine.uow import Database as Store
from tests.conftest import TEST_CONFIG, TEST_HASHER, StoreOpener
from ussd_server.i18n import Catalogs
from ussd_server.settings import Settings
from ussd_server.sms.backends import InboxBackend
from ussd_server.sms.worker import OutboxWorker

CAP = 3
MWILA, CHIPO = "+260977123456", "+260966123456"
SHORTCODE = "*384*2025#"
OFFSET_S = 2 * 3600  # Zambia: UTC+2
# The ManualClock starts at 2026-01-01 00:00 UTC, which is 02:00 local on day 0.
START_US = ManualClock().now_us()
CONFIG = replace(TEST_CONFIG, sms_daily_cap=CAP, local_utc_offset_s=OFFSET_S, gifts_per_day=1000)


def local(day: int, hour: int, minute: int = 0) -> int:
    """``hour:minute`` local time on ``day`` (0 = 2026-01-01), in microseconds since the epoch."""
    return START_US + ((day * 24 + hour) * 3600 + minute * 60 - OFFSET_S) * MICROS_PER_SECOND


def utc(day: int, hour: int, minute: int = 0) -> int:
    """``hour:minute`` UTC on ``day`` (0 = 2026-01-01)."""
    return START_US + ((day * 24 + hour) * 3600 + minute * 60) * MICROS_PER_SECOND


@pytest.fixture
async def capped(store: Store, clock: ManualClock) -> Platform:
    platform = Platform(store, CONFIG, TEST_HASHER, clock)
    await platform.bootstrap()
    return platform


@pytest.fixture
async def parties(capped: Platform, clock: ManualClock) -> tuple[User, User]:
    """Two users with energy to give, set up on day 0 (their welcome and purchase SMS are day 0's)."""
    mwila = await capped.users.register(phone=MWILA, name="Mwila", language="en", pin="5173")
    chipo = await capped.users.register(phone=CHIPO, name="Chipo", language="ny", pin="5173")
    await capped.clusters.create(
        cluster_id="lsk-test",
        name="Test",
        kind=ClusterKind.MICRO,
        region="Lusaka",
        capacity_wh=20_000,
        price_ngwee_per_kwh=100,
    )
    for user in (mwila, chipo):
        await capped.clusters.buy(buyer=user, cluster_id="lsk-test", wh=4000, operation_id=f"stock-{user.id}")
    clock.set(local(1, 8))
    return mwila, chipo


async def gift(platform: Platform, giver: User, taker: User, operation_id: str) -> None:
    await platform.trading.trade(
        seller=giver, buyer_phone=taker.phone, wh=100, price_ngwee_per_kwh=0, operation_id=operation_id
    )


async def ping_pong(platform: Platform, a: User, b: User, gifts: int, prefix: str = "gift") -> None:
    """``gifts`` gifts back and forth: each one sends an SMS to each of the two."""
    for n in range(gifts):
        giver, taker = (a, b) if n % 2 == 0 else (b, a)
        await gift(platform, giver, taker, f"{prefix}-{n}")


async def rows_since(store: Store, phone: str, since_us: int) -> list[OutboxRow]:
    """The recipient's rows created at or after ``since_us``, oldest first."""
    rows = await store.outbox.list_outbox(recipient=phone, limit=10_000)
    return sorted((r for r in rows if r.message.created_at >= since_us), key=lambda r: r.id)


def ordinary_queued(rows: list[OutboxRow]) -> list[OutboxRow]:
    return [
        r for r in rows if r.status is not OutboxStatus.FOLDED and r.message.template != notifications.DAILY_SUMMARY
    ]


def summaries(rows: list[OutboxRow]) -> list[OutboxRow]:
    return [r for r in rows if r.message.template == notifications.DAILY_SUMMARY]


def folded(rows: list[OutboxRow]) -> list[OutboxRow]:
    return [r for r in rows if r.status is OutboxStatus.FOLDED]


def security_message(user: User, key: str) -> OutboxMessage:
    return notifications.sms(key, "user", user, notifications.PIN_CHANGED)


async def queue(platform: Platform, clock: ManualClock, messages: list[OutboxMessage]) -> notifications.QueueOutcome:
    return await platform.store.atomic(
        lambda tx: notifications.queue(tx.outbox, messages, now_us=clock.now_us(), config=platform.config)
    )


async def test_a_gift_ping_pong_sends_each_recipient_the_cap_then_one_summary(
    capped: Platform, parties: tuple[User, User], clock: ManualClock
) -> None:
    mwila, chipo = parties
    await ping_pong(capped, mwila, chipo, 10)  # 10 SMS to each of them
    for phone in (MWILA, CHIPO):
        today = await rows_since(capped.store, phone, local(1, 0))
        queued = ordinary_queued(today)
        assert len(queued) == CAP
        assert all(r.status is OutboxStatus.PENDING for r in queued)
        # The first ones go out; everything after the cap is kept, never sent.
        assert [r.id for r in queued] == [r.id for r in today[:CAP]]
        assert len(folded(today)) == 10 - CAP
        (summary,) = summaries(today)
        assert summary.status is OutboxStatus.PENDING
        assert summary.next_attempt_at == local(1, 20)  # 20:00 local
        assert summary.message.language is (Language.ENGLISH if phone == MWILA else Language.NYANJA)
    counts = await capped.store.outbox_queue.outbox_counts()
    assert counts[OutboxStatus.FOLDED] == 2 * (10 - CAP)


async def test_security_messages_go_out_beyond_the_cap(
    capped: Platform, parties: tuple[User, User], clock: ManualClock
) -> None:
    mwila, chipo = parties
    await ping_pong(capped, mwila, chipo, 6)
    outcome = await queue(capped, clock, [security_message(mwila, "pin-change-1"), security_message(mwila, "pin-2")])
    assert outcome == notifications.QueueOutcome(queued=2, folded=0, summaries=0)
    today = await rows_since(capped.store, MWILA, local(1, 0))
    security = [r for r in today if r.message.template == notifications.PIN_CHANGED]
    assert [r.status for r in security] == [OutboxStatus.PENDING, OutboxStatus.PENDING]
    assert security[0].next_attempt_at == 0  # due at once, not held for the summary
    # ...and they do not use up anything: the ordinary count is still exactly the cap.
    assert len(ordinary_queued(today)) - len(security) == CAP


async def test_security_messages_do_not_count_towards_the_cap(
    capped: Platform, parties: tuple[User, User], clock: ManualClock
) -> None:
    mwila, chipo = parties
    for n in range(CAP + 2):
        await queue(capped, clock, [security_message(mwila, f"pin-{n}")])
    await gift(capped, chipo, mwila, "after-security")
    (received,) = [
        r
        for r in await rows_since(capped.store, MWILA, local(1, 0))
        if r.message.template == notifications.ENERGY_RECEIVED
    ]
    assert received.status is OutboxStatus.PENDING


async def test_the_count_starts_again_the_next_local_day(
    capped: Platform, parties: tuple[User, User], clock: ManualClock
) -> None:
    mwila, chipo = parties
    await ping_pong(capped, mwila, chipo, CAP + 2)
    clock.set(local(2, 7))
    await ping_pong(capped, mwila, chipo, CAP + 1, prefix="day2")
    for phone in (MWILA, CHIPO):
        day2 = await rows_since(capped.store, phone, local(2, 0))
        assert len(ordinary_queued(day2)) == CAP
        assert len(folded(day2)) == 1
        (summary,) = summaries(day2)  # a summary of its own, for day 2
        assert summary.next_attempt_at == local(2, 20)
        assert len(summaries(await rows_since(capped.store, phone, local(1, 0)))) == 2


async def test_the_local_day_follows_the_utc_offset(
    capped: Platform, parties: tuple[User, User], clock: ManualClock
) -> None:
    mwila, chipo = parties
    clock.set(utc(1, 19))  # 21:00 local, day 1
    await ping_pong(capped, mwila, chipo, CAP)  # both at the cap
    clock.set(utc(1, 21, 30))  # 23:30 local: still day 1 here
    await gift(capped, mwila, chipo, "late-evening")
    clock.set(utc(1, 23, 30))  # 01:30 local: day 2 here, though still day 1 in UTC
    await gift(capped, chipo, mwila, "after-midnight")
    rows = {r.message.dedupe_key: r for r in await capped.store.outbox.list_outbox(limit=10_000)}
    assert rows["late-evening:seller"].status is OutboxStatus.FOLDED
    assert rows["late-evening:buyer"].status is OutboxStatus.FOLDED
    assert rows["after-midnight:seller"].status is OutboxStatus.PENDING
    assert rows["after-midnight:buyer"].status is OutboxStatus.PENDING
    # The first fold came after 20:00 local: its summary waits five minutes, not until tomorrow.
    (summary,) = summaries(await rows_since(capped.store, CHIPO, local(1, 0)))
    assert summary.next_attempt_at == utc(1, 21, 35)


async def test_a_replayed_operation_does_not_use_up_the_cap(
    capped: Platform, parties: tuple[User, User], clock: ManualClock
) -> None:
    mwila, chipo = parties
    for _ in range(5):  # the gateway retried, the user pressed again, a worker re-ran the hop...
        await gift(capped, mwila, chipo, "gift-once")
    await ping_pong(capped, mwila, chipo, CAP - 1, prefix="more")
    for phone in (MWILA, CHIPO):
        today = await rows_since(capped.store, phone, local(1, 0))
        assert len(ordinary_queued(today)) == CAP
        assert folded(today) == []
        assert summaries(today) == []


async def test_requeuing_a_message_neither_counts_it_again_nor_folds_it(
    capped: Platform, parties: tuple[User, User], clock: ManualClock
) -> None:
    mwila, chipo = parties
    first = notifications.sms("requeue-0", "user", mwila, notifications.OFFER_DECLINED, wh=100, ref="K7M3Q9XP2A")
    assert await queue(capped, clock, [first]) == notifications.QueueOutcome(1, 0, 0)
    assert await queue(capped, clock, [first, first]) == notifications.QueueOutcome(0, 0, 0)
    await ping_pong(capped, chipo, mwila, CAP)  # Mwila is now over the cap
    # The same message again, after the cap is reached: it stays queued, and no summary is made for it.
    assert await queue(capped, clock, [first]) == notifications.QueueOutcome(0, 0, 0)
    today = await rows_since(capped.store, MWILA, local(1, 0))
    assert next(r for r in today if r.message.dedupe_key == "requeue-0:user").status is OutboxStatus.PENDING
    assert len(ordinary_queued(today)) == CAP
    assert len(folded(today)) == 1
    assert len(summaries(today)) == 1
    # A folded message queued again stays folded and adds no second summary.
    (fold,) = folded(today)
    assert await queue(capped, clock, [fold.message]) == notifications.QueueOutcome(0, 0, 0)
    assert len(summaries(await rows_since(capped.store, MWILA, local(1, 0)))) == 1


async def test_concurrent_operations_never_pass_the_cap(
    capped: Platform, parties: tuple[User, User], clock: ManualClock, open_test_store: StoreOpener
) -> None:
    """Units of work in several processes (stores) queueing for one recipient at the same moment."""
    mwila, _ = parties
    stores = [capped.store, *[await open_test_store() for _ in range(3)]]
    messages = [
        notifications.sms(f"burst-{n}", "user", mwila, notifications.OFFER_DECLINED, wh=100, ref="K7M3Q9XP2A")
        for n in range(24)
    ]

    async def one(n: int) -> notifications.QueueOutcome:
        store = stores[n % len(stores)]
        return await store.atomic(
            lambda tx: notifications.queue(tx.outbox, [messages[n]], now_us=clock.now_us(), config=capped.config)
        )

    outcomes = await asyncio.gather(*(one(n) for n in range(len(messages))))
    assert sum(o.queued for o in outcomes) == CAP
    assert sum(o.folded for o in outcomes) == len(messages) - CAP
    assert sum(o.summaries for o in outcomes) == 1
    today = await rows_since(capped.store, MWILA, local(1, 0))
    assert len(ordinary_queued(today)) == CAP
    assert len(summaries(today)) == 1


async def test_the_worker_sends_the_summary_when_due_and_never_a_folded_row(
    capped: Platform, parties: tuple[User, User], clock: ManualClock
) -> None:
    mwila, chipo = parties
    inbox = InboxBackend()
    settings = Settings(sms_backend="inbox", ussd_service_codes=(SHORTCODE,))
    worker = OutboxWorker(capped.sms_outbox, inbox, Catalogs.load(), settings, clock, rng=random.Random(7))

    async def drain() -> None:
        while await worker.run_once():
            pass

    await drain()  # day 0's welcome and purchase SMS
    before = {phone: len(inbox.messages(phone)) for phone in (MWILA, CHIPO)}
    await ping_pong(capped, mwila, chipo, 8)
    await drain()
    for phone in (MWILA, CHIPO):
        assert len(inbox.messages(phone)) - before[phone] == CAP  # the summary waits for the evening
    clock.set(local(1, 19, 59))
    await drain()
    assert len(inbox.messages(MWILA)) - before[MWILA] == CAP
    clock.set(local(1, 20))
    await drain()
    for phone in (MWILA, CHIPO):
        assert len(inbox.messages(phone)) - before[phone] == CAP + 1
    summary_en = inbox.messages(MWILA)[-1].text
    assert summary_en == (
        "Enerlectra: there was more activity on your account today than we send by SMS. "
        f"To see it all, dial {SHORTCODE} > My balance > Mini-statement."
    )
    assert SHORTCODE in inbox.messages(CHIPO)[-1].text
    clock.set(local(9, 12))  # long after: folded rows still never go out
    await drain()
    statuses = Counter(r.status for r in await capped.store.outbox.list_outbox(limit=10_000))
    assert statuses[OutboxStatus.FOLDED] == 2 * (8 - CAP)
    assert statuses[OutboxStatus.PENDING] == statuses[OutboxStatus.FAILED] == 0
    assert all(
        r.attempts == 0 for r in await capped.store.outbox.list_outbox(limit=10_000) if r.status is OutboxStatus.FOLDED
    )


def test_a_day_summary_is_due_at_twenty_hundred_local_or_shortly_after_a_late_fold() -> None:
    assert local_time.local_day_start_us(utc(1, 21, 59), OFFSET_S) == local(1, 0)
    assert local_time.local_day_start_us(utc(1, 22), OFFSET_S) == local(2, 0)
    assert notifications.summary_due_us(local(1, 9), OFFSET_S) == local(1, 20)
    assert notifications.summary_due_us(local(1, 19, 58), OFFSET_S) == local(1, 20, 3)
    assert notifications.summary_due_us(local(1, 23, 58), OFFSET_S) == local(1, 23, 59)  # still "today"
    assert notifications.summary_due_us(local(1, 9), 0) == utc(1, 20)
