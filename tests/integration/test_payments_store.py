"""The payments store on every backend: payments kept once, changed by compare-and-set, leased to one worker.

Run on SQLite, PostgreSQL and the in-memory database, so the fake the
service tests use answers like the real ones: what a payment reads back as,
who wins a race to change it, which payments a worker is handed and when,
the sums the limits are checked against, a user's history, the operators'
views, and that a unit of work that raises leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import replace

import asyncpg
import pytest

from engine.identity.model import Language, User
from engine.kernel.clock import MICROS_PER_SECOND
from engine.payments.model import Direction, Payment, PaymentState, Provider
from engine.payments.ports import MoneyMoved, ProviderTotals
from engine.uow import Database as Store
from engine.uow import Repositories
from storage.memory import MemoryDatabase
from storage.memory.ledger import ConstraintViolation
from storage.sqlite import sqlite_path
from tests.conftest import StoreOpener
from tests.integration.conftest import ALL_BACKENDS

pytestmark = ALL_BACKENDS

# What each backend raises for a row its schema refuses (an engine bug, never a user's error).
REFUSED = (sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError, ConstraintViolation)
S = MICROS_PER_SECOND
T0 = 1_767_225_600 * S  # the test clock's start
MWILA, CHIPO, BANDA, ZULU = "+260977000001", "+260966000002", "+260955000003", "+260977000004"


async def register(store: Store, phone: str) -> User:
    return await store.atomic(
        lambda r: r.users.insert_user(phone=phone, name="Mwila Banda", language=Language.ENGLISH, pin_hash="h")
    )


def payment(
    n: int,
    user: User,
    *,
    direction: Direction = Direction.DEPOSIT,
    provider: Provider = Provider.MTN,
    amount: int = 1_000,
    state: PaymentState = PaymentState.CREATED,
    at: int = T0,
    to: User | None = None,
    **changes: object,
) -> Payment:
    made = Payment(
        id=f"pay{n:03d}",
        reference=f"REF{n:03d}",
        direction=Direction.TRANSFER if to is not None else direction,
        provider=Provider.WALLET if to is not None else provider,
        user_id=user.id,
        msisdn=user.phone,
        amount_ngwee=amount,
        state=state,
        counterparty_id=to.id if to is not None else None,
        created_at=at,
        updated_at=at,
    )
    return replace(made, **changes)  # type: ignore[arg-type]


async def insert(store: Store, *payments: Payment) -> list[bool]:
    async def work(r: Repositories) -> list[bool]:
        return [await r.payments.insert_payment(p) for p in payments]

    return await store.atomic(work)


async def update(store: Store, changed: Payment) -> bool:
    return await store.atomic(lambda r: r.payments.update_payment(changed))


async def claim(store: Store, *, now_us: int, lease_until_us: int, limit: int = 10) -> list[Payment]:
    return await store.atomic(
        lambda r: r.payments.claim_due_payments(now_us=now_us, lease_until_us=lease_until_us, limit=limit)
    )


def ids(payments: list[Payment]) -> list[str]:
    return [p.id for p in payments]


async def test_a_payment_is_stored_once_and_reads_back_whole(store: Store) -> None:
    mwila, chipo = await register(store, MWILA), await register(store, CHIPO)
    deposit = payment(1, mwila, attempt_id="6f1c0c3e-attempt", next_check_at=T0 + 5 * S, review=True, checks=2)
    send = payment(2, mwila, to=chipo, amount=2_500, state=PaymentState.SUCCESSFUL)
    assert await insert(store, deposit, send) == [True, True]
    # The same id again is refused, whatever it carries, and the first is kept.
    assert await insert(store, replace(deposit, amount_ngwee=9_999)) == [False]
    assert await store.payments.payment_by_id("pay001") == deposit
    assert await store.payments.payment_by_id("pay002") == send
    assert await store.payments.payment_by_id("pay404") is None
    assert await store.payments.payments_by_ids(["pay002", "pay404", "pay001"]) == {"pay001": deposit, "pay002": send}
    assert await store.payments.payments_by_ids([]) == {}
    # Airtel's callbacks name the attempt id only: found by it, for its own provider only.
    assert await store.payments.payment_by_attempt(Provider.MTN, "6f1c0c3e-attempt") == deposit
    assert await store.payments.payment_by_attempt(Provider.AIRTEL, "6f1c0c3e-attempt") is None
    assert await store.payments.payment_by_attempt(Provider.WALLET, "") is None
    read = await store.payments.payment_by_id("pay001")
    assert read is not None
    assert (read.direction, read.provider, read.state, read.review) == (
        Direction.DEPOSIT,
        Provider.MTN,
        PaymentState.CREATED,
        True,
    )
    assert read.counterparty_id is None


async def test_the_schema_refuses_what_no_payment_may_be(store: Store) -> None:
    mwila = await register(store, MWILA)
    await insert(store, payment(1, mwila, attempt_id="a1"), payment(2, mwila), payment(3, mwila))
    # Empty attempt ids never clash, and one id may be used by another provider.
    assert await insert(store, payment(4, mwila, provider=Provider.AIRTEL, attempt_id="a1")) == [True]
    with pytest.raises(REFUSED):
        await insert(store, payment(5, mwila, attempt_id="a1"))  # the provider would take it for a retry
    with pytest.raises(REFUSED):
        await update(store, replace(payment(2, mwila), attempt_id="a1"))
    with pytest.raises(REFUSED):
        await insert(store, payment(6, mwila, amount=0))
    with pytest.raises(REFUSED):
        await insert(store, replace(payment(7, mwila), user_id=mwila.id + 100))
    assert sorted(await store.payments.payments_by_ids([f"pay{n:03d}" for n in range(1, 8)])) == [
        "pay001",
        "pay002",
        "pay003",
        "pay004",
    ]


async def test_an_update_is_a_compare_and_set_on_the_version(store: Store) -> None:
    mwila = await register(store, MWILA)
    created = payment(1, mwila)
    await insert(store, created)
    submitted = created.moved_to(PaymentState.SUBMITTED, now_us=T0 + S, attempt_id="a1", next_check_at=T0 + 60 * S)
    assert await update(store, submitted)
    stored = await store.payments.payment_by_id(created.id)
    assert stored == replace(submitted, version=1)
    # Someone holding the old version loses, and changes nothing.
    assert not await update(store, created.moved_to(PaymentState.SUBMITTED, now_us=T0 + 2 * S, attempt_id="a2"))
    assert await store.payments.payment_by_id(created.id) == stored
    # What a payment was made with never changes; everything else does.
    assert stored is not None
    pending = stored.moved_to(PaymentState.PENDING, now_us=T0 + 3 * S, checks=1, provider_txn_id="MTN-77")
    assert await update(store, replace(pending, amount_ngwee=1, msisdn="+260900000000", reference="X"))
    assert await store.payments.payment_by_id(created.id) == replace(pending, version=2)
    assert not await update(store, replace(created, id="pay404"))


async def test_of_two_concurrent_updates_from_one_version_only_one_wins(
    store: Store, open_test_store: StoreOpener
) -> None:
    mwila = await register(store, MWILA)
    created = payment(1, mwila)
    await insert(store, created)
    other = await open_test_store()  # another process: a provider's callback beside the worker's poll
    poll = created.moved_to(PaymentState.SUBMITTED, now_us=T0 + S, reason_detail="poll")
    callback = created.moved_to(PaymentState.SUBMITTED, now_us=T0 + S, reason_detail="callback")

    async def slow_update(db: Store, changed: Payment) -> bool:
        async def work(r: Repositories) -> bool:
            won = await r.payments.update_payment(changed)
            await asyncio.sleep(0.05)  # hold the transaction open while the other runs
            return won

        return await db.atomic(work)

    results = await asyncio.gather(slow_update(store, poll), slow_update(other, callback))
    assert sorted(results) == [False, True]
    stored = await store.payments.payment_by_id(created.id)
    winner = poll if results[0] else callback
    assert stored == replace(winner, version=1)


async def test_a_claim_leases_the_oldest_due_payments_and_bumps_their_version(store: Store) -> None:
    mwila = await register(store, MWILA)
    now, lease = T0 + 100 * S, T0 + 160 * S
    due = [payment(n, mwila, state=PaymentState.PENDING, next_check_at=T0 + (10 - n) * S) for n in range(1, 6)]
    later = payment(6, mwila, state=PaymentState.PENDING, next_check_at=now + 1)
    never = payment(7, mwila, state=PaymentState.PENDING, next_check_at=0)
    await insert(store, *due, later, never)
    first = await claim(store, now_us=now, lease_until_us=lease, limit=3)
    # Oldest due first (pay005 was due soonest); handed back with the lease and the new version.
    assert sorted(ids(first)) == ["pay003", "pay004", "pay005"]
    assert {(p.next_check_at, p.version) for p in first} == {(lease, 1)}
    assert {p.id: p for p in first} == await store.payments.payments_by_ids(ids(first))
    rest = await claim(store, now_us=now, lease_until_us=lease, limit=10)
    assert sorted(ids(rest)) == ["pay001", "pay002"]
    assert await claim(store, now_us=now, lease_until_us=lease) == []
    # A worker that held the lease and died: its payments fall due again when the lease ends.
    # Just before the lease ends only what fell due meanwhile is handed out...
    (fell_due,) = await claim(store, now_us=lease - 1, lease_until_us=lease + 60 * S)
    assert (fell_due.id, fell_due.version) == ("pay006", 1)
    # ...and at its end, every payment of the lease again.
    again = await claim(store, now_us=lease, lease_until_us=lease + 60 * S, limit=10)
    assert sorted(ids(again)) == ["pay001", "pay002", "pay003", "pay004", "pay005"]
    assert {p.version for p in again} == {2}
    # The worker's update with the version it was handed wins; a stale one loses.
    held = again[0]
    assert not await update(store, replace(held, version=held.version - 1, checks=1))
    assert await update(store, held.changed(now_us=lease, checks=1, next_check_at=0))
    never_stored = await store.payments.payment_by_id("pay007")
    assert never_stored is not None
    assert never_stored.version == 0


async def test_final_payments_and_those_in_review_are_never_claimed(store: Store) -> None:
    mwila = await register(store, MWILA)
    due_at = T0 + S
    kept = [
        payment(1, mwila, state=state, next_check_at=due_at)
        for state in (PaymentState.SUCCESSFUL, PaymentState.FAILED, PaymentState.EXPIRED)
    ]
    held = payment(4, mwila, state=PaymentState.UNKNOWN, next_check_at=due_at, review=True)
    live = [
        payment(n, mwila, state=state, next_check_at=due_at)
        for n, state in enumerate(
            (PaymentState.CREATED, PaymentState.SUBMITTED, PaymentState.PENDING, PaymentState.UNKNOWN), 5
        )
    ]
    await insert(store, *[replace(p, id=f"final{n}") for n, p in enumerate(kept)], held, *live)
    claimed = await claim(store, now_us=T0 + 10 * S, lease_until_us=T0 + 70 * S)
    assert sorted(ids(claimed)) == ["pay005", "pay006", "pay007", "pay008"]
    # An operator's release from review makes it claimable again.
    assert await update(store, held.changed(now_us=T0 + 20 * S, review=False))
    assert ids(await claim(store, now_us=T0 + 30 * S, lease_until_us=T0 + 90 * S)) == ["pay004"]


async def test_concurrent_claimers_never_share_a_payment(store: Store, open_test_store: StoreOpener) -> None:
    """Several stores on one database, as several worker processes; each holds its claim a while."""
    mwila = await register(store, MWILA)
    await insert(store, *[payment(n, mwila, state=PaymentState.PENDING, next_check_at=T0 + n) for n in range(40)])
    stores = [store, *[await open_test_store() for _ in range(4)]]

    async def claim_and_hold(db: Store) -> list[str]:
        async def work(r: Repositories) -> list[str]:
            got = await r.payments.claim_due_payments(now_us=T0 + S, lease_until_us=T0 + 60 * S, limit=6)
            await asyncio.sleep(0.05)  # the others claim while these rows are still locked
            return ids(got)

        return await db.atomic(work)

    claims = await asyncio.gather(*(claim_and_hold(db) for db in stores))
    everything = [payment_id for claimed in claims for payment_id in claimed]
    assert len(everything) == len(set(everything)) == 30  # nobody waited for another's rows or took them
    assert all(len(claimed) == 6 for claimed in claims)
    assert sorted(everything) == [f"pay{n:03d}" for n in range(30)]  # the oldest due, between them
    rest = await claim(store, now_us=T0 + S, lease_until_us=T0 + 60 * S, limit=40)
    assert sorted(ids(rest)) == [f"pay{n:03d}" for n in range(30, 40)]


async def test_a_claim_passes_over_payments_another_claimer_holds_without_waiting(
    store: Store, open_test_store: StoreOpener
) -> None:
    if store.backend != "postgres":
        pytest.skip("one writer at a time: a second claim waits for the first transaction to end")
    mwila = await register(store, MWILA)
    await insert(store, *[payment(n, mwila, state=PaymentState.PENDING, next_check_at=T0 + n) for n in range(4)])
    other = await open_test_store()
    first_claimed, release = asyncio.Event(), asyncio.Event()

    async def hold(r: Repositories) -> list[str]:
        got = await r.payments.claim_due_payments(now_us=T0 + S, lease_until_us=T0 + 60 * S, limit=2)
        first_claimed.set()
        await release.wait()  # still uncommitted: its rows stay locked
        return ids(got)

    holder = asyncio.create_task(store.atomic(hold))
    try:
        await first_claimed.wait()
        second = await asyncio.wait_for(claim(other, now_us=T0 + S, lease_until_us=T0 + 60 * S), timeout=5)
    finally:
        release.set()  # a claim that waited fails the test above, and must not hang it here
        held = await holder
    assert sorted(held) == ["pay000", "pay001"]
    assert sorted(ids(second)) == ["pay002", "pay003"]


async def test_a_unit_of_work_that_raises_leaves_no_payment_no_signal_and_no_lease(store: Store) -> None:
    mwila = await register(store, MWILA)
    waiting = payment(1, mwila, state=PaymentState.PENDING, next_check_at=T0)
    await insert(store, waiting)

    async def work(r: Repositories) -> None:
        assert await r.payments.insert_payment(payment(2, mwila))
        assert await r.payments.payment_by_id("pay002") is not None  # the transaction sees its own row
        assert len(await r.payments.claim_due_payments(now_us=T0, lease_until_us=T0 + 60 * S, limit=5)) == 1
        await r.risk.record_risk_signal(kind="velocity", user_id=mwila.id, detail={"n": 3}, at_us=T0)
        raise RuntimeError("the provider call failed")

    with pytest.raises(RuntimeError):
        await store.atomic(work)
    assert await store.payments.payment_by_id("pay002") is None
    assert await store.payments.payment_by_id("pay001") == waiting  # not leased, not bumped
    assert await store.payments.payments_for_user(mwila.id) == [waiting]


async def test_money_moved_counts_what_was_started_and_did_not_fail(store: Store) -> None:
    mwila, chipo = await register(store, MWILA), await register(store, CHIPO)
    since = T0 + 100 * S
    at = since + S
    await insert(
        store,
        payment(1, mwila, amount=1_000, state=PaymentState.SUCCESSFUL, at=at),
        payment(2, mwila, amount=2_000, state=PaymentState.PENDING, at=at),
        payment(3, mwila, amount=4_000, state=PaymentState.UNKNOWN, at=at),
        payment(4, mwila, amount=8_000, state=PaymentState.FAILED, at=at),  # never counted
        payment(5, mwila, amount=16_000, state=PaymentState.EXPIRED, at=at),
        payment(6, mwila, amount=32_000, state=PaymentState.SUCCESSFUL, at=since - 1),  # before the window
        payment(7, mwila, direction=Direction.WITHDRAWAL, amount=300, state=PaymentState.SUBMITTED, at=since),
        payment(8, mwila, direction=Direction.WITHDRAWAL, amount=400, state=PaymentState.SUCCESSFUL, at=at),
        payment(9, mwila, to=chipo, amount=50, state=PaymentState.SUCCESSFUL, at=at),
        payment(10, chipo, to=mwila, amount=70_000, state=PaymentState.SUCCESSFUL, at=at),  # received: not Mwila's
        payment(11, chipo, amount=90_000, state=PaymentState.PENDING, at=at),
    )
    moved = await store.payments.money_moved(mwila.id, since_us=since)
    assert moved == MoneyMoved(deposits=7_000, withdrawals=700, sent=50, pending_deposits=6_000)
    assert moved.total == 7_750
    assert await store.payments.money_moved(mwila.id, since_us=since - 1) == MoneyMoved(39_000, 700, 50, 6_000)
    assert await store.payments.money_moved(mwila.id, since_us=at + 1) == MoneyMoved()
    assert await store.payments.money_moved(chipo.id, since_us=since) == MoneyMoved(90_000, 0, 70_000, 90_000)


async def test_senders_to_counts_different_senders_once(store: Store) -> None:
    mwila, chipo, banda, zulu = [await register(store, p) for p in (MWILA, CHIPO, BANDA, ZULU)]
    since = T0 + 100 * S
    await insert(
        store,
        payment(1, chipo, to=mwila, state=PaymentState.SUCCESSFUL, at=since),
        payment(2, chipo, to=mwila, state=PaymentState.SUCCESSFUL, at=since + S),  # the same sender again
        payment(3, banda, to=mwila, state=PaymentState.SUCCESSFUL, at=since + S),
        payment(4, zulu, to=mwila, state=PaymentState.FAILED, at=since + S),  # sent nothing
        payment(5, zulu, to=mwila, state=PaymentState.SUCCESSFUL, at=since - 1),  # before the window
        payment(6, zulu, to=chipo, state=PaymentState.SUCCESSFUL, at=since + S),  # to someone else
        payment(7, mwila, to=zulu, state=PaymentState.SUCCESSFUL, at=since + S),  # sent by Mwila
    )
    assert await store.payments.senders_to(mwila.id, since_us=since) == 2
    assert await store.payments.senders_to(mwila.id, since_us=since - 1) == 3
    assert await store.payments.senders_to(mwila.id, since_us=since + 2 * S) == 0
    assert await store.payments.senders_to(zulu.id, since_us=since) == 1


async def test_a_users_history_holds_what_they_started_and_sends_received_newest_first(store: Store) -> None:
    mwila, chipo, banda = [await register(store, p) for p in (MWILA, CHIPO, BANDA)]
    made = [
        payment(1, mwila, at=T0 + 1 * S),
        payment(2, chipo, to=mwila, state=PaymentState.SUCCESSFUL, at=T0 + 2 * S),  # received
        payment(3, mwila, to=banda, state=PaymentState.SUCCESSFUL, at=T0 + 3 * S),
        payment(4, mwila, direction=Direction.WITHDRAWAL, state=PaymentState.FAILED, at=T0 + 4 * S),
        payment(5, banda, to=mwila, state=PaymentState.SUCCESSFUL, at=T0 + 4 * S),  # same instant: id decides
        payment(6, chipo, at=T0 + 5 * S),  # someone else's
        payment(7, banda, to=chipo, state=PaymentState.SUCCESSFUL, at=T0 + 6 * S),
    ]
    await insert(store, *made)
    history = await store.payments.payments_for_user(mwila.id)
    assert ids(history) == ["pay005", "pay004", "pay003", "pay002", "pay001"]
    assert history[0] == made[4]
    assert ids(await store.payments.payments_for_user(mwila.id, limit=2)) == ["pay005", "pay004"]
    # The next page: what was made before the last one shown.
    assert ids(await store.payments.payments_for_user(mwila.id, limit=2, before_us=T0 + 4 * S)) == [
        "pay003",
        "pay002",
    ]
    assert ids(await store.payments.payments_for_user(chipo.id)) == ["pay007", "pay006", "pay002"]
    assert await store.payments.payments_for_user(mwila.id, before_us=T0 + S) == []


async def test_operators_see_the_review_queue_statements_totals_and_counts(store: Store) -> None:
    mwila, chipo = await register(store, MWILA), await register(store, CHIPO)
    await insert(
        store,
        payment(1, mwila, state=PaymentState.UNKNOWN, review=True, at=T0 + 3 * S),
        payment(2, mwila, state=PaymentState.PENDING, review=True, at=T0 + 1 * S),
        payment(3, mwila, amount=1_000, state=PaymentState.SUCCESSFUL, at=T0 + 2 * S),
        payment(4, chipo, amount=2_000, state=PaymentState.SUCCESSFUL, at=T0 + 5 * S),
        payment(5, mwila, direction=Direction.WITHDRAWAL, amount=300, state=PaymentState.SUCCESSFUL, at=T0),
        payment(6, mwila, direction=Direction.WITHDRAWAL, amount=500, state=PaymentState.FAILED, at=T0 + 4 * S),
        payment(7, chipo, provider=Provider.AIRTEL, amount=9_000, state=PaymentState.SUCCESSFUL, at=T0 + 2 * S),
        payment(8, mwila, to=chipo, amount=40, state=PaymentState.SUCCESSFUL, at=T0 + 2 * S),
    )
    assert ids(await store.payments.payments_in_review()) == ["pay002", "pay001"]
    assert ids(await store.payments.payments_in_review(limit=1)) == ["pay002"]
    # One provider's payments made in [since, until), oldest first.
    between = await store.payments.payments_between(Provider.MTN, since_us=T0, until_us=T0 + 5 * S)
    assert ids(between) == ["pay005", "pay002", "pay003", "pay001", "pay006"]
    assert await store.payments.payments_between(Provider.AIRTEL, since_us=T0, until_us=T0 + 2 * S) == []
    assert await store.payments.provider_totals(Provider.MTN) == ProviderTotals(Provider.MTN, 3_000, 2, 300, 1)
    assert await store.payments.provider_totals(Provider.ZAMTEL) == ProviderTotals(Provider.ZAMTEL, 0, 0, 0, 0)
    assert await store.payments.withdrawals_succeeded(mwila.id) == 1
    assert await store.payments.withdrawals_succeeded(chipo.id) == 0
    assert await store.payments.count_payments() == {
        "created": 0,
        "submitted": 0,
        "pending": 1,
        "successful": 5,
        "failed": 1,
        "expired": 0,
        "unknown": 1,
        "review": 2,
    }


async def stored_signals(store: Store, database_url: str) -> list[tuple[str, int, object, int]]:
    """The risk signals as kept (no port reads them back yet): kind, user, detail, at."""
    if isinstance(store, MemoryDatabase):
        rows = [(k, u, d, at) for _, k, u, d, at in store._data.risk_signals.values()]
    elif database_url.startswith("sqlite:"):
        conn = sqlite3.connect(sqlite_path(database_url))
        rows = conn.execute("SELECT kind, user_id, json(detail), at FROM risk_signals ORDER BY id").fetchall()
        conn.close()
    else:
        pg = await asyncpg.connect(database_url)
        rows = [
            tuple(r) for r in await pg.fetch("SELECT kind, user_id, detail::text, at FROM risk_signals ORDER BY id")
        ]
        await pg.close()
    return [(k, u, d if isinstance(d, dict) else json.loads(d), at) for k, u, d, at in rows]


async def test_risk_signals_are_appended_with_their_unit_of_work(store: Store, database_url: str) -> None:
    mwila = await register(store, MWILA)

    async def work(r: Repositories) -> None:
        await r.risk.record_risk_signal(
            kind="velocity", user_id=mwila.id, detail={"count": 4, "window": "1h"}, at_us=T0
        )
        await r.risk.record_risk_signal(kind="many_senders", user_id=mwila.id, detail={}, at_us=T0 + S)

    await store.atomic(work)
    assert await stored_signals(store, database_url) == [
        ("velocity", mwila.id, {"count": 4, "window": "1h"}, T0),
        ("many_senders", mwila.id, {}, T0 + S),
    ]
    with pytest.raises(REFUSED):
        await store.atomic(lambda r: r.risk.record_risk_signal(kind="x", user_id=mwila.id + 9, detail={}, at_us=T0))


async def test_the_kyc_tier_starts_at_one_and_round_trips_through_update_user(store: Store) -> None:
    mwila = await register(store, MWILA)
    assert mwila.kyc_tier == 1
    assert (await store.users.user_by_id(mwila.id) or mwila).kyc_tier == 1
    raised = replace(mwila, kyc_tier=3, name="Mwila M. Banda")
    await store.atomic(lambda r: r.users.update_user(raised))
    assert await store.users.user_by_id(mwila.id) == raised
    assert await store.users.user_by_phone(MWILA) == raised
    assert await store.users.users_by_ids([mwila.id]) == {mwila.id: raised}
    assert await store.atomic(lambda r: r.users.user_for_update(mwila.id)) == raised
    # Saving the PIN state leaves the tier alone.
    await store.atomic(lambda r: r.users.save_pin_state(replace(raised, kyc_tier=1, pin_failures=2)))
    assert await store.users.user_by_id(mwila.id) == replace(raised, pin_failures=2)
    for tier in (0, 4):  # the column's CHECK: tiers 1 to 3

        async def set_tier(r: Repositories, tier: int = tier) -> None:
            await r.users.update_user(replace(raised, kyc_tier=tier))

        with pytest.raises(REFUSED):
            await store.atomic(set_tier)
    assert (await store.users.user_by_id(mwila.id) or mwila).kyc_tier == 3
