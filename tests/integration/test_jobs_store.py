"""The scheduler's job store on every backend: one job per (kind, key), leased to one worker, settled once.

Run on SQLite, PostgreSQL and the in-memory database, so the fake the
service tests use answers like the real ones: what scheduling again does to
a job (waiting, running, done or dead), which jobs a claim hands out and
when, that a settle only lands while its worker still holds the job (a
stale claim, a reschedule or a cancel meanwhile win), dead jobs and their
retry, the operators' counts, and that several claimers never share a job.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import asyncpg
import pytest

from engine.kernel.clock import MICROS_PER_SECOND, ManualClock
from engine.scheduler.model import Job, JobCounts, JobState
from engine.uow import Database as Store
from engine.uow import Repositories
from tests.conftest import StoreOpener
from tests.integration.conftest import ALL_BACKENDS

pytestmark = ALL_BACKENDS

S = MICROS_PER_SECOND
T0 = 1_767_225_600 * S  # the test clock's start
LEASE = 120 * S
KINDS = ["coop.proposal", "coop.refunds"]


async def schedule(store: Store, kind: str, key: str, due_at_us: int, **payload: str | int) -> None:
    await store.atomic(lambda r: r.jobs.schedule_job(kind, key, due_at_us=due_at_us, payload=dict(payload)))


async def cancel(store: Store, kind: str, key: str) -> bool:
    return await store.atomic(lambda r: r.jobs.cancel_job(kind, key))


async def claim(store: Store, now_us: int, *, limit: int = 10, kinds: list[str] | None = None) -> list[Job]:
    return await store.job_queue.claim_due_jobs(
        now_us=now_us, lease_until_us=now_us + LEASE, limit=limit, kinds=KINDS if kinds is None else kinds
    )


async def job(store: Store, kind: str, key: str) -> Job:
    found = await store.job_queue.job_by_key(kind, key)
    assert found is not None
    return found


def keys(jobs: list[Job]) -> list[str]:
    return [j.key for j in jobs]


async def test_a_job_is_scheduled_once_per_kind_and_key_and_reads_back_whole(store: Store, clock: ManualClock) -> None:
    await schedule(store, "coop.proposal", "prop001", T0 + 60 * S, stage="voting", n=3)
    stored = await job(store, "coop.proposal", "prop001")
    assert (stored.kind, stored.key, stored.due_at_us, stored.payload) == (
        "coop.proposal",
        "prop001",
        T0 + 60 * S,
        {"stage": "voting", "n": 3},
    )
    assert (stored.state, stored.attempts, stored.lease_until_us, stored.last_error, stored.claims) == (
        JobState.DUE,
        0,
        0,
        "",
        0,
    )
    assert stored.id > 0
    assert stored.updated_at_us == T0
    assert await store.job_queue.job_by_key("coop.proposal", "prop404") is None
    # Scheduling again moves the one job (new due time, new payload), never queues a second.
    clock.advance(5)
    await schedule(store, "coop.proposal", "prop001", T0 + 30 * S, stage="reminder")
    moved = await job(store, "coop.proposal", "prop001")
    assert (moved.id, moved.due_at_us, moved.payload, moved.updated_at_us) == (
        stored.id,
        T0 + 30 * S,
        {"stage": "reminder"},
        T0 + 5 * S,
    )
    # The same key under another kind is another job.
    await schedule(store, "coop.refunds", "prop001", T0)
    assert len(await store.job_queue.jobs()) == 2


async def test_a_claim_leases_the_earliest_due_jobs_of_its_kinds(store: Store) -> None:
    for n, due in enumerate([50, 10, 30, 20, 70]):
        await schedule(store, "coop.proposal", f"p{n}", T0 + due * S)
    await schedule(store, "coop.refunds", "kabulonga", T0 + 15 * S)
    await schedule(store, "other.kind", "x", T0)
    now = T0 + 40 * S
    claimed = await claim(store, now, limit=3)
    assert keys(claimed) == ["p1", "kabulonga", "p3"]  # earliest first, up to the limit
    assert all(j.lease_until_us == now + LEASE and j.claims == 1 for j in claimed)
    assert (await job(store, "coop.proposal", "p1")) == claimed[0]  # what the claim returned is what is stored
    # Leased jobs are not handed out again; not-yet-due ones and other kinds never were.
    assert keys(await claim(store, now)) == ["p2"]
    assert await claim(store, now) == []
    assert keys(await claim(store, now, kinds=["other.kind"])) == ["x"]
    assert await claim(store, now, limit=0) == []
    assert await claim(store, T0 + 100 * S, kinds=[]) == []


async def test_a_claim_whose_lease_ran_out_is_claimed_again(store: Store) -> None:
    await schedule(store, "coop.proposal", "p1", T0)
    first = await claim(store, T0)
    assert await claim(store, T0 + LEASE - 1) == []  # still leased
    again = await claim(store, T0 + LEASE)  # the first worker died: the lease is over
    assert keys(again) == ["p1"]
    assert again[0].claims == 2
    # The first worker, back from the dead, cannot settle what it no longer holds.
    assert not await store.job_queue.finish_job(first[0], next_due_us=None, now_us=T0 + LEASE + 1)
    assert not await store.job_queue.fail_job(first[0], error="late", retry_at_us=T0, now_us=T0 + LEASE + 1)
    assert (await job(store, "coop.proposal", "p1")).lease_until_us == T0 + 2 * LEASE  # the second's lease holds
    assert await store.job_queue.finish_job(again[0], next_due_us=None, now_us=T0 + LEASE + 2)
    assert (await job(store, "coop.proposal", "p1")).state is JobState.DONE


async def test_finishing_makes_a_job_done_or_due_again_with_attempts_reset(store: Store) -> None:
    await schedule(store, "coop.proposal", "p1", T0)
    (claimed,) = await claim(store, T0)
    assert not await store.job_queue.fail_job(
        replace(claimed, claims=claimed.claims + 1), error="x", retry_at_us=T0, now_us=T0
    )  # a claim token that is not the row's
    assert await store.job_queue.fail_job(claimed, error="Boom: treasury", retry_at_us=T0 + 30 * S, now_us=T0 + 1)
    failed = await job(store, "coop.proposal", "p1")
    assert (failed.state, failed.attempts, failed.due_at_us, failed.lease_until_us, failed.last_error) == (
        JobState.DUE,
        1,
        T0 + 30 * S,
        0,
        "Boom: treasury",
    )
    (retried,) = await claim(store, T0 + 30 * S)
    assert retried.attempts == 1
    assert await store.job_queue.finish_job(retried, next_due_us=T0 + 3600 * S, now_us=T0 + 31 * S)
    again = await job(store, "coop.proposal", "p1")
    assert (again.state, again.attempts, again.due_at_us, again.lease_until_us, again.last_error) == (
        JobState.DUE,
        0,
        T0 + 3600 * S,
        0,
        "",
    )
    assert not await store.job_queue.finish_job(retried, next_due_us=None, now_us=T0 + 32 * S)  # settled once
    (last,) = await claim(store, T0 + 3600 * S)
    assert await store.job_queue.finish_job(last, next_due_us=None, now_us=T0 + 3601 * S)
    done = await job(store, "coop.proposal", "p1")
    assert (done.state, done.due_at_us, done.claims) == (JobState.DONE, T0 + 3600 * S, 3)
    assert await claim(store, T0 + 9999 * S) == []


async def test_a_reschedule_while_the_handler_runs_wins_over_its_settle(store: Store, clock: ManualClock) -> None:
    """The handler read the proposal before a vote moved its deadline: its "done" must not lose the new time.

    Decided: a settle lands only if the row's ``claims`` and ``updated_at`` are
    what the claim returned; every write moves ``updated_at`` on (a stopped
    clock included), so the reschedule is seen. The lost settle still ends its
    own lease, so the job runs at its new time, not when the lease ends.
    """
    await schedule(store, "coop.proposal", "p1", T0, stage="open")
    (claimed,) = await claim(store, T0)
    # The same microsecond on a stopped clock: updated_at still moves.
    await schedule(store, "coop.proposal", "p1", T0 + 10 * S, stage="close")
    rescheduled = await job(store, "coop.proposal", "p1")
    assert rescheduled.updated_at_us > claimed.updated_at_us
    assert rescheduled.lease_until_us == claimed.lease_until_us  # a claimed job keeps its claim
    assert (rescheduled.claims, rescheduled.due_at_us) == (1, T0 + 10 * S)
    assert not await store.job_queue.finish_job(claimed, next_due_us=None, now_us=T0 + S)
    after = await job(store, "coop.proposal", "p1")
    assert (after.state, after.due_at_us, after.payload, after.lease_until_us) == (
        JobState.DUE,
        T0 + 10 * S,
        {"stage": "close"},
        0,
    )
    (next_run,) = await claim(store, T0 + 10 * S)  # at its new time, not when the old lease would have ended
    assert next_run.payload == {"stage": "close"}
    # The same for a handler that failed meanwhile: the reschedule wins, no attempt is counted.
    clock.advance(1)
    await schedule(store, "coop.proposal", "p1", T0 + 20 * S, stage="execute")
    assert not await store.job_queue.fail_job(next_run, error="x", retry_at_us=T0 + 99 * S, now_us=T0 + 11 * S)
    after_fail = await job(store, "coop.proposal", "p1")
    assert (after_fail.attempts, after_fail.due_at_us, after_fail.last_error) == (0, T0 + 20 * S, "")


async def test_a_cancel_while_the_handler_runs_wins_over_its_settle(store: Store) -> None:
    await schedule(store, "coop.proposal", "p1", T0)
    (claimed,) = await claim(store, T0)
    assert await cancel(store, "coop.proposal", "p1")
    assert not await store.job_queue.finish_job(claimed, next_due_us=T0 + 60 * S, now_us=T0 + 1)
    assert (await job(store, "coop.proposal", "p1")).state is JobState.DONE
    assert not await cancel(store, "coop.proposal", "p1")  # nothing waiting any more
    assert not await cancel(store, "coop.proposal", "p404")


async def test_a_job_that_fails_for_the_last_time_is_dead_until_an_operator_retries_it(store: Store) -> None:
    await schedule(store, "coop.proposal", "p1", T0, stage="execute")
    (claimed,) = await claim(store, T0)
    assert await store.job_queue.fail_job(claimed, error="RuntimeError: gone", retry_at_us=None, now_us=T0 + 1)
    dead = await job(store, "coop.proposal", "p1")
    assert (dead.state, dead.attempts, dead.lease_until_us, dead.last_error) == (
        JobState.DEAD,
        1,
        0,
        "RuntimeError: gone",
    )
    assert await claim(store, T0 + 9999 * S) == []
    assert keys(await store.job_queue.jobs(state="dead")) == ["p1"]
    assert not await store.job_queue.retry_dead_job("coop.proposal", "p404", now_us=T0)
    assert await store.job_queue.retry_dead_job("coop.proposal", "p1", now_us=T0 + 50 * S)
    revived = await job(store, "coop.proposal", "p1")
    assert (revived.state, revived.attempts, revived.due_at_us, revived.payload) == (
        JobState.DUE,
        0,
        T0 + 50 * S,
        {"stage": "execute"},
    )
    assert not await store.job_queue.retry_dead_job("coop.proposal", "p1", now_us=T0 + 50 * S)  # not dead now
    assert keys(await claim(store, T0 + 50 * S)) == ["p1"]


async def test_scheduling_a_done_or_dead_job_makes_it_due_again_with_attempts_reset(store: Store) -> None:
    for key in ("done", "dead", "waiting"):
        await schedule(store, "coop.proposal", key, T0)
    claimed = {j.key: j for j in await claim(store, T0)}
    assert await store.job_queue.finish_job(claimed["done"], next_due_us=None, now_us=T0)
    assert await store.job_queue.fail_job(claimed["dead"], error="e", retry_at_us=None, now_us=T0)
    assert await store.job_queue.fail_job(claimed["waiting"], error="e", retry_at_us=T0 + S, now_us=T0)
    for key in ("done", "dead", "waiting"):
        await schedule(store, "coop.proposal", key, T0 + 60 * S, again=1)
    done, dead, waiting = [await job(store, "coop.proposal", k) for k in ("done", "dead", "waiting")]
    assert (done.state, done.attempts, done.due_at_us, done.payload) == (JobState.DUE, 0, T0 + 60 * S, {"again": 1})
    assert (dead.state, dead.attempts, dead.last_error) == (JobState.DUE, 0, "")
    # A job still retrying keeps its count of failures: scheduling it is not a success.
    assert (waiting.state, waiting.attempts, waiting.last_error, waiting.due_at_us) == (
        JobState.DUE,
        1,
        "e",
        T0 + 60 * S,
    )


async def test_operators_see_jobs_by_due_time_and_counts_with_the_schedulers_lag(store: Store) -> None:
    assert await store.job_queue.job_counts(now_us=T0) == JobCounts()
    for key, due in [("a", 10), ("b", 20), ("c", 30), ("d", 40), ("e", 500)]:
        await schedule(store, "coop.proposal", key, T0 + due * S)
    now = T0 + 100 * S
    a, b = await claim(store, now, limit=2)  # a and b run now
    assert await store.job_queue.finish_job(b, next_due_us=None, now_us=now)
    (c,) = await claim(store, now, limit=1)
    assert await store.job_queue.fail_job(c, error="e", retry_at_us=None, now_us=now)
    assert keys(await store.job_queue.jobs()) == ["a", "b", "c", "d", "e"]
    assert keys(await store.job_queue.jobs(state="due", limit=2)) == ["a", "d"]
    assert keys(await store.job_queue.jobs(state=JobState.DONE)) == ["b"]
    # due: a (running), d (overdue), e (later); overdue: d alone, waiting since T0 + 40 s.
    assert await store.job_queue.job_counts(now_us=now) == JobCounts(
        due=3, overdue=1, dead=1, done=1, oldest_due_us=T0 + 40 * S
    )
    # Once a's lease is over without a settle, it is overdue too: its worker is gone.
    assert await store.job_queue.job_counts(now_us=now + LEASE) == JobCounts(
        due=3, overdue=2, dead=1, done=1, oldest_due_us=T0 + 10 * S
    )
    assert a.key == "a"


async def test_a_unit_of_work_that_raises_schedules_and_cancels_nothing(store: Store) -> None:
    await schedule(store, "coop.proposal", "kept", T0)

    async def work(r: Repositories) -> None:
        await r.jobs.schedule_job("coop.proposal", "new", due_at_us=T0, payload={})
        await r.jobs.schedule_job("coop.proposal", "kept", due_at_us=T0 + 99 * S, payload={"x": 1})
        assert await r.jobs.cancel_job("coop.proposal", "new")
        raise RuntimeError("the proposal's transaction failed")

    with pytest.raises(RuntimeError):
        await store.atomic(work)
    assert keys(await store.job_queue.jobs()) == ["kept"]
    kept = await job(store, "coop.proposal", "kept")
    assert (kept.due_at_us, kept.payload, kept.state) == (T0, {}, JobState.DUE)


async def test_concurrent_claimers_never_share_a_job(store: Store, open_test_store: StoreOpener) -> None:
    """Several stores on one database, as several worker processes claiming at once."""

    async def work(r: Repositories) -> None:
        for n in range(60):
            await r.jobs.schedule_job("coop.proposal", f"p{n:02d}", due_at_us=T0 + n, payload={})

    await store.atomic(work)
    stores = [store, *[await open_test_store() for _ in range(3)]]
    claims = await asyncio.gather(*(claim(db, T0 + S, limit=10) for db in stores))
    everything = [k for claimed in claims for k in keys(claimed)]
    assert len(everything) == len(set(everything)) == 40
    assert sorted(everything) == [f"p{n:02d}" for n in range(40)]  # the earliest due, between them
    rest = await claim(store, T0 + S, limit=100)
    assert keys(rest) == [f"p{n:02d}" for n in range(40, 60)]


async def test_a_claim_passes_over_jobs_another_claimer_holds_without_waiting(store: Store, database_url: str) -> None:
    if store.backend != "postgres":
        pytest.skip("one writer at a time: a second claim waits for the first transaction to end")
    for n in range(4):
        await schedule(store, "coop.proposal", f"p{n}", T0 + n)
    holder = await asyncpg.connect(database_url)
    try:
        async with holder.transaction():
            # Another claimer's statement, caught between locking its rows and committing.
            await holder.execute("SELECT id FROM jobs WHERE key IN ('p0', 'p1') FOR UPDATE")
            claimed = await asyncio.wait_for(claim(store, T0 + S), timeout=5)
    finally:
        await holder.close()
    assert keys(claimed) == ["p2", "p3"]


async def test_ten_thousand_due_jobs_are_each_claimed_exactly_once_in_batches(
    store: Store, open_test_store: StoreOpener
) -> None:
    async def work(r: Repositories) -> None:
        for n in range(10_000):
            await r.jobs.schedule_job("coop.proposal", f"p{n:05d}", due_at_us=T0 - n % 97 * S, payload={"n": n})

    await store.atomic(work)
    stores = [store, await open_test_store()]
    batches: list[list[Job]] = []

    async def worker(db: Store) -> None:
        while batch := await claim(db, T0, limit=250):
            batches.append(batch)
            assert [j.due_at_us for j in batch] == sorted(j.due_at_us for j in batch)  # earliest first

    await asyncio.gather(*(worker(db) for db in stores))
    seen = [j.key for batch in batches for j in batch]
    assert len(seen) == len(set(seen)) == 10_000
    assert all(len(batch) <= 250 for batch in batches)
    assert all(j.claims == 1 and j.payload == {"n": int(j.key[1:])} for batch in batches for j in batch)
    # All leased, none finished: due, and not overdue while their workers hold them.
    assert await store.job_queue.job_counts(now_us=T0) == JobCounts(due=10_000)
