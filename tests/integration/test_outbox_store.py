"""The outbox delivery contract on every backend: claims are leases, never shared, never lost."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from engine.kernel.clock import MICROS_PER_SECOND, ManualClock
from engine.kernel.language import Language
from engine.notifications.model import OutboxMessage, OutboxRow, OutboxStatus
from engine.uow import Database as Store
from engine.uow import Repositories as Transaction
from tests.conftest import StoreOpener
from tests.integration.conftest import ALL_BACKENDS

LEASE_S = 60.0
PHONE = "+260977123456"

pytestmark = ALL_BACKENDS


def message(n: int, **params: str | int) -> OutboxMessage:
    return OutboxMessage(
        dedupe_key=f"op{n}:user",
        recipient=PHONE,
        language=Language.NYANJA,
        template="sms.welcome",
        params={"credit": 500, **params},
    )


async def queue(store: Store, count: int) -> list[int]:
    """Queue ``count`` messages; returns their row ids, oldest first."""
    await store.atomic(lambda tx: tx.outbox.add_outbox([message(n) for n in range(count)]))
    return sorted(row.id for row in await store.outbox.list_outbox(limit=count))


async def row(store: Store, row_id: int) -> OutboxRow:
    return next(r for r in await store.outbox.list_outbox(limit=10_000) if r.id == row_id)


async def test_a_claim_takes_the_oldest_due_rows_up_to_the_limit(store: Store, clock: ManualClock) -> None:
    ids = await queue(store, 5)
    first = await store.outbox_queue.claim_outbox(limit=3, lease_s=LEASE_S)
    assert [r.id for r in first] == ids[:3]
    assert all(r.attempts == 1 for r in first)
    assert all(r.next_attempt_at == clock.now_us() + int(LEASE_S * MICROS_PER_SECOND) for r in first)
    assert all(r.status is OutboxStatus.PENDING for r in first)  # a lease, not a status change
    second = await store.outbox_queue.claim_outbox(limit=3, lease_s=LEASE_S)
    assert [r.id for r in second] == ids[3:]
    assert await store.outbox_queue.claim_outbox(limit=3, lease_s=LEASE_S) == []


async def test_a_claimed_row_carries_its_message(store: Store) -> None:
    await store.atomic(lambda tx: tx.outbox.add_outbox([message(1, ref="K7M3Q9XP2A")]))
    (claimed,) = await store.outbox_queue.claim_outbox(limit=10, lease_s=LEASE_S)
    assert claimed.message.recipient == PHONE
    assert claimed.message.language is Language.NYANJA
    assert claimed.message.template == "sms.welcome"
    assert claimed.message.params == {"credit": 500, "ref": "K7M3Q9XP2A"}


async def test_a_row_whose_worker_died_falls_due_when_the_lease_ends(store: Store, clock: ManualClock) -> None:
    (row_id,) = await queue(store, 1)
    assert [r.id for r in await store.outbox_queue.claim_outbox(limit=10, lease_s=LEASE_S)] == [row_id]
    # The worker dies here, holding the lease.
    clock.advance(LEASE_S - 1)
    assert await store.outbox_queue.claim_outbox(limit=10, lease_s=LEASE_S) == []
    clock.advance(1)
    (again,) = await store.outbox_queue.claim_outbox(limit=10, lease_s=LEASE_S)
    assert (again.id, again.attempts) == (row_id, 2)


async def test_sent_rows_are_never_claimed_again(store: Store, clock: ManualClock) -> None:
    (row_id,) = await queue(store, 1)
    (claimed,) = await store.outbox_queue.claim_outbox(limit=10, lease_s=LEASE_S)
    assert await store.outbox_queue.mark_outbox_sent(row_id, "ATXid_1", attempt=claimed.attempts)
    sent = await row(store, row_id)
    assert (sent.status, sent.provider_ref, sent.last_error) == (OutboxStatus.SENT, "ATXid_1", "")
    clock.advance(LEASE_S * 100)
    assert await store.outbox_queue.claim_outbox(limit=10, lease_s=LEASE_S) == []


async def test_a_retried_row_waits_for_its_time(store: Store, clock: ManualClock) -> None:
    (row_id,) = await queue(store, 1)
    await store.outbox_queue.claim_outbox(limit=10, lease_s=LEASE_S)
    due = clock.now_us() + 5 * MICROS_PER_SECOND
    assert await store.outbox_queue.mark_outbox_retry(row_id, "500 InternalServerError", due, attempt=1)
    failed = await row(store, row_id)
    assert (failed.status, failed.last_error, failed.next_attempt_at) == (
        OutboxStatus.FAILED,
        "500 InternalServerError",
        due,
    )
    clock.advance(4)
    assert await store.outbox_queue.claim_outbox(limit=10, lease_s=LEASE_S) == []
    clock.advance(1)
    (again,) = await store.outbox_queue.claim_outbox(limit=10, lease_s=LEASE_S)
    assert (again.id, again.attempts, again.status) == (row_id, 2, OutboxStatus.FAILED)
    assert await store.outbox_queue.mark_outbox_sent(row_id, "ATXid_2", attempt=2)
    assert (await row(store, row_id)).status is OutboxStatus.SENT


async def test_dead_rows_stay_dead(store: Store, clock: ManualClock) -> None:
    (row_id,) = await queue(store, 1)
    await store.outbox_queue.claim_outbox(limit=10, lease_s=LEASE_S)
    assert await store.outbox_queue.mark_outbox_dead(row_id, "403 InvalidPhoneNumber", attempt=1)
    dead = await row(store, row_id)
    assert (dead.status, dead.last_error) == (OutboxStatus.DEAD, "403 InvalidPhoneNumber")
    clock.advance(LEASE_S * 100)
    assert await store.outbox_queue.claim_outbox(limit=10, lease_s=LEASE_S) == []
    # A late mark from anyone cannot bring it back.
    assert not await store.outbox_queue.mark_outbox_retry(row_id, "late", clock.now_us())
    assert not await store.outbox_queue.mark_outbox_sent(row_id, "late")
    assert (await row(store, row_id)).status is OutboxStatus.DEAD


async def test_a_worker_whose_lease_ran_out_cannot_overwrite_the_new_owner(store: Store, clock: ManualClock) -> None:
    (row_id,) = await queue(store, 1)
    (slow,) = await store.outbox_queue.claim_outbox(limit=10, lease_s=LEASE_S)
    clock.advance(LEASE_S)
    (fresh,) = await store.outbox_queue.claim_outbox(limit=10, lease_s=LEASE_S)
    assert (slow.attempts, fresh.attempts) == (1, 2)
    # The slow worker's late outcome is ignored while the row is leased to the new owner...
    assert not await store.outbox_queue.mark_outbox_retry(row_id, "timeout", clock.now_us(), attempt=slow.attempts)
    assert (await row(store, row_id)).next_attempt_at == fresh.next_attempt_at
    # ...whose own outcome counts.
    assert await store.outbox_queue.mark_outbox_sent(row_id, "ATXid_3", attempt=fresh.attempts)
    assert not await store.outbox_queue.mark_outbox_dead(row_id, "timeout", attempt=slow.attempts)
    assert (await row(store, row_id)).status is OutboxStatus.SENT


async def test_concurrent_claimers_never_get_the_same_row(store: Store, open_test_store: StoreOpener) -> None:
    """Several stores on one database, as several worker processes would be."""
    ids = await queue(store, 60)
    stores = [store, *[await open_test_store() for _ in range(4)]]

    async def drain(claimer: Store) -> list[int]:
        got: list[int] = []
        while batch := await claimer.outbox_queue.claim_outbox(limit=4, lease_s=LEASE_S):
            got += [r.id for r in batch]
            # A worker sends its batch before claiming again; without this pause one
            # SQLite claimer can take every batch while the others sit in the busy handler.
            await asyncio.sleep(0.005)
        return got

    claims = await asyncio.gather(*(drain(s) for s in stores))
    everything = [row_id for claimed in claims for row_id in claimed]
    assert len(everything) == len(set(everything))  # no row twice
    assert sorted(everything) == ids  # and none left behind
    assert sum(1 for claimed in claims if claimed) > 1  # they really did compete
    assert {r.attempts for r in await store.outbox.list_outbox(limit=100)} == {1}


async def test_delivery_reports_find_the_row_by_provider_reference(store: Store) -> None:
    ids = await queue(store, 3)
    await store.outbox_queue.claim_outbox(limit=10, lease_s=LEASE_S)
    for n, row_id in enumerate(ids):
        await store.outbox_queue.mark_outbox_sent(row_id, f"ATXid_{n}", attempt=1)
    assert await store.outbox_queue.record_delivery_report("ATXid_0", delivered=True)
    assert await store.outbox_queue.record_delivery_report(
        "ATXid_1", delivered=False, reason="delivery Failed: UserInBlacklist"
    )
    delivered, failed, untouched = [await row(store, i) for i in ids]
    assert (delivered.status, delivered.last_error) == (OutboxStatus.DELIVERED, "")
    assert (failed.status, failed.last_error) == (OutboxStatus.DEAD, "delivery Failed: UserInBlacklist")
    assert untouched.status is OutboxStatus.SENT
    # A repeated report, an unknown reference and a blank one change nothing.
    assert not await store.outbox_queue.record_delivery_report("ATXid_0", delivered=False, reason="late")
    assert not await store.outbox_queue.record_delivery_report("ATXid_unknown", delivered=True)
    assert not await store.outbox_queue.record_delivery_report("", delivered=True)
    assert (await row(store, ids[0])).status is OutboxStatus.DELIVERED


async def test_counts_cover_every_status(store: Store) -> None:
    assert await store.outbox_queue.outbox_counts() == dict.fromkeys(OutboxStatus, 0)
    ids = await queue(store, 4)
    await store.outbox_queue.claim_outbox(limit=10, lease_s=LEASE_S)
    await store.outbox_queue.mark_outbox_sent(ids[0], "ATXid_a")
    await store.outbox_queue.mark_outbox_sent(ids[1], "ATXid_b")
    await store.outbox_queue.record_delivery_report("ATXid_b", delivered=True)
    await store.outbox_queue.mark_outbox_dead(ids[2], "403 InvalidPhoneNumber")
    counts = await store.outbox_queue.outbox_counts()
    assert counts == {
        OutboxStatus.PENDING: 1,
        OutboxStatus.SENT: 1,
        OutboxStatus.DELIVERED: 1,
        OutboxStatus.FAILED: 0,
        OutboxStatus.DEAD: 1,
        OutboxStatus.FOLDED: 0,
    }


async def test_a_folded_row_is_kept_but_never_claimed_or_marked(store: Store, clock: ManualClock) -> None:
    """Over the daily SMS cap: kept for audit, never sent, and nothing can bring it back."""
    await store.atomic(lambda tx: tx.outbox.add_outbox([message(1)], folded=True))
    (kept,) = await store.outbox.list_outbox(recipient=PHONE)
    assert (kept.status, kept.attempts) == (OutboxStatus.FOLDED, 0)
    clock.advance(LEASE_S * 100)
    assert await store.outbox_queue.claim_outbox(limit=10, lease_s=LEASE_S) == []
    assert not await store.outbox_queue.mark_outbox_sent(kept.id, "ATXid_1")
    assert not await store.outbox_queue.mark_outbox_retry(kept.id, "late", clock.now_us())
    assert not await store.outbox_queue.mark_outbox_dead(kept.id, "late")
    assert (await row(store, kept.id)).status is OutboxStatus.FOLDED
    assert (await store.outbox_queue.outbox_counts())[OutboxStatus.FOLDED] == 1


async def test_a_row_queued_for_later_waits_until_it_is_due(store: Store, clock: ManualClock) -> None:
    due = clock.now_us() + 3600 * MICROS_PER_SECOND
    await store.atomic(lambda tx: tx.outbox.add_outbox([message(1)], due_at=due))
    assert (await store.outbox.list_outbox(recipient=PHONE))[0].next_attempt_at == due
    clock.advance(3599)
    assert await store.outbox_queue.claim_outbox(limit=10, lease_s=LEASE_S) == []
    clock.advance(1)
    assert len(await store.outbox_queue.claim_outbox(limit=10, lease_s=LEASE_S)) == 1


async def test_a_message_keeps_the_creation_time_the_engine_gave_it(store: Store, clock: ManualClock) -> None:
    stamped = replace(message(1), created_at=clock.now_us() - 5 * MICROS_PER_SECOND)
    await store.atomic(lambda tx: tx.outbox.add_outbox([stamped, message(2)]))
    rows = {r.message.dedupe_key: r for r in await store.outbox.list_outbox(recipient=PHONE)}
    assert rows["op1:user"].message.created_at == clock.now_us() - 5 * MICROS_PER_SECOND
    assert rows["op2:user"].message.created_at == clock.now_us()  # 0: the store's clock


async def test_counting_a_recipients_rows_since_a_time(store: Store, clock: ManualClock) -> None:
    other = "+260966123456"
    await store.atomic(lambda tx: tx.outbox.add_outbox([message(1)]))  # before the window
    clock.advance(10)
    since = clock.now_us()
    await store.atomic(lambda tx: tx.outbox.add_outbox([message(2), message(3)]))
    await store.atomic(lambda tx: tx.outbox.add_outbox([message(4)], folded=True))  # folded rows do not count
    await store.atomic(lambda tx: tx.outbox.add_outbox([replace(message(5), template="sms.pin_changed")]))
    await store.atomic(lambda tx: tx.outbox.add_outbox([replace(message(6), recipient=other)]))
    # A row that was sent still counts: it was queued today.
    claimed = {r.message.dedupe_key: r for r in await store.outbox_queue.claim_outbox(limit=10, lease_s=LEASE_S)}
    assert await store.outbox_queue.mark_outbox_sent(claimed["op2:user"].id, "ATXid_1")

    async def count(tx: Transaction) -> dict[str, int]:
        return await tx.outbox.count_outbox_since(
            [PHONE, other, "+260955000000"], since, excluding_templates=["sms.pin_changed"]
        )

    assert await store.atomic(count) == {PHONE: 2, other: 1}
    assert await store.atomic(lambda tx: tx.outbox.existing_outbox_keys(["op4:user", "op6:user", "op9:user"])) == {
        "op4:user",
        "op6:user",
    }
