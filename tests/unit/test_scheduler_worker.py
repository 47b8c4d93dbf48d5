"""The scheduler worker: due jobs run, failures retried with backoff then dead, batches, the drain, one per SQLite."""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine.coops.model import Choice, ProposalState
from engine.kernel.clock import ManualClock
from engine.platform import Platform
from engine.scheduler.model import Job, JobState, RetryPolicy
from engine.scheduler.runner import RunReport
from storage import open_store
from tests.conftest import TEST_CONFIG, TEST_HASHER
from tests.support.coops import DAY, HOUR, CoopWorld
from ussd_server.scheduler.lock import SingleWorkerLock
from ussd_server.scheduler.runtime import worker_for
from ussd_server.scheduler.worker import SchedulerWorker
from ussd_server.settings import Settings

KIND = "test.echo"
GUARD_S = 10.0  # only a bound for a broken worker to fail instead of hanging: nothing here waits on time


class Handler:
    """A job handler that records what it ran and fails while told to."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.failing = False

    async def __call__(self, job: Job) -> int | None:
        self.ran.append(job.key)
        if self.failing:
            raise RuntimeError(f"the meter for {job.key} did not answer")
        return None


async def platform_with(handler: Handler, clock: ManualClock, retries: RetryPolicy | None = None) -> Platform:
    """A platform whose retries come from ``retries`` (the settings' policy, as bootstrap gives it)."""
    platform = Platform(await open_store("memory:", clock=clock), TEST_CONFIG, TEST_HASHER, clock, retries=retries)
    await platform.bootstrap()
    platform.scheduler.register(KIND, handler)
    return platform


async def schedule(platform: Platform, key: str, due_at_us: int) -> None:
    await platform.store.atomic(lambda r: r.jobs.schedule_job(KIND, key, due_at_us=due_at_us, payload={}))


async def job(platform: Platform, key: str) -> Job:
    found = await platform.store.job_queue.job_by_key(KIND, key)
    assert found is not None
    return found


def settings(**values: object) -> Settings:
    return Settings(database_url="memory:", **values)  # type: ignore[arg-type]


async def test_due_jobs_run_and_later_ones_wait_for_their_time(clock: ManualClock) -> None:
    handler = Handler()
    platform = await platform_with(handler, clock)
    worker = worker_for(settings(), platform)
    now = clock.now_us()
    await schedule(platform, "a", now)
    await schedule(platform, "b", now - 1)
    await schedule(platform, "later", now + 60_000_000)

    report = await worker.run_once()

    assert (report.claimed, report.finished) == (2, 2)
    assert sorted(handler.ran) == ["a", "b"]
    assert (await job(platform, "a")).state is JobState.DONE
    assert (await job(platform, "later")).state is JobState.DUE
    clock.advance(60)
    await worker.run_once()
    assert handler.ran[-1] == "later"
    assert (await platform.scheduler.counts()).due == 0


async def test_a_failing_job_is_retried_with_backoff_and_dead_after_the_last_attempt(clock: ManualClock) -> None:
    handler = Handler()
    handler.failing = True
    configured = settings(scheduler_max_attempts=3, scheduler_retry_first_s=10, scheduler_retry_max_s=15)
    platform = await platform_with(handler, clock, configured.retry_policy())
    worker = worker_for(configured, platform)
    await schedule(platform, "meter-7", clock.now_us())

    first = await worker.run_once()
    assert (first.claimed, first.failed) == (1, 1)
    assert (await job(platform, "meter-7")).attempts == 1
    clock.advance(9)
    assert (await worker.run_once()).claimed == 0, "retried before its backoff ended"
    clock.advance(1)
    assert (await worker.run_once()).failed == 1  # the second attempt, 10 s after the first
    clock.advance(19)  # 20 s by doubling, but capped at 15
    last = await worker.run_once()

    assert last.dead == 1
    dead = await job(platform, "meter-7")
    assert dead.state is JobState.DEAD
    assert dead.attempts == 3
    assert "the meter for meter-7 did not answer" in dead.last_error
    assert handler.ran == ["meter-7"] * 3
    clock.advance(DAY)
    assert (await worker.run_once()).claimed == 0, "a dead job waits for an operator"
    assert (await platform.scheduler.counts()).dead == 1

    handler.failing = False
    assert await platform.scheduler.retry_dead(KIND, "meter-7")  # the operator's decision
    assert (await worker.run_once()).finished == 1
    assert (await job(platform, "meter-7")).state is JobState.DONE


async def test_a_full_batch_is_followed_by_the_next_at_once(clock: ManualClock) -> None:
    handler = Handler()
    platform = await platform_with(handler, clock)
    for n in range(5):
        await schedule(platform, f"job-{n}", clock.now_us())
    all_ran = asyncio.Event()
    reports: list[RunReport] = []

    def seen(report: RunReport) -> None:
        reports.append(report)
        if sum(r.finished for r in reports) == 5:
            all_ran.set()

    # An hour between looks: only "a full batch is followed by the next at once" can run all five.
    worker = SchedulerWorker(platform.scheduler, batch=2, interval_s=3600, on_report=seen)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run_forever(stop))
    await asyncio.wait_for(all_ran.wait(), GUARD_S)
    stop.set()
    await asyncio.wait_for(running, GUARD_S)  # stopping ends the hour's sleep
    assert [r.claimed for r in reports] == [2, 2, 1]
    assert sorted(handler.ran) == [f"job-{n}" for n in range(5)]


async def test_stopping_lets_the_batch_in_flight_finish_and_starts_no_other(clock: ManualClock) -> None:
    entered, release = asyncio.Event(), asyncio.Event()
    handler = Handler()

    async def slow(job: Job) -> int | None:
        entered.set()
        await release.wait()
        return await handler(job)

    platform = Platform(await open_store("memory:", clock=clock), TEST_CONFIG, TEST_HASHER, clock)
    platform.scheduler.register(KIND, slow)
    await schedule(platform, "first", clock.now_us() - 1)
    await schedule(platform, "second", clock.now_us())
    worker = SchedulerWorker(platform.scheduler, batch=1, interval_s=3600)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run_forever(stop))
    await asyncio.wait_for(entered.wait(), GUARD_S)

    stop.set()
    worker.wake()
    await asyncio.sleep(0)
    assert not running.done(), "the job in flight was abandoned"
    release.set()
    await asyncio.wait_for(running, GUARD_S)

    assert handler.ran == ["first"]
    assert (await job(platform, "first")).state is JobState.DONE
    assert (await job(platform, "second")).state is JobState.DUE  # the next worker (or start) runs it


async def test_on_sqlite_one_process_runs_jobs_and_a_standby_takes_over(clock: ManualClock, tmp_path: Path) -> None:
    handler = Handler()
    platform = await platform_with(handler, clock)
    path = tmp_path / "enerlectra.db.scheduler-lock"
    server = SchedulerWorker(platform.scheduler, lock=SingleWorkerLock(path))
    standby = SchedulerWorker(platform.scheduler, lock=SingleWorkerLock(path))
    await schedule(platform, "one", clock.now_us())

    assert (await server.run_once()).finished == 1
    await schedule(platform, "two", clock.now_us())
    assert (await standby.run_once()).claimed == 0  # the lock is taken: it stands by
    assert (await job(platform, "two")).state is JobState.DUE

    server.close()  # the server stops (or dies: the kernel drops its lock)
    assert (await standby.run_once()).finished == 1
    assert handler.ran == ["one", "two"]
    standby.close()


async def test_a_proposal_moves_through_its_deadlines_when_the_worker_runs(clock: ManualClock) -> None:
    platform = Platform(await open_store("memory:", clock=clock), TEST_CONFIG, TEST_HASHER, clock)
    await platform.bootstrap()
    world = CoopWorld(platform, clock)
    coop, people = await world.active_coop(3)
    worker = worker_for(settings(), platform)
    proposal = await world.propose(people[0], coop, "decision", text="Clean the panels every Saturday")

    clock.advance(HOUR)  # the voting delay
    await worker.run_once()
    assert (await platform.governance.get(proposal.id)).state is ProposalState.ACTIVE
    for person in people:
        await world.vote(person, proposal, Choice.YES)
    clock.advance(3 * DAY)  # the voting period
    await worker.run_once()
    assert (await platform.governance.get(proposal.id)).state is ProposalState.QUEUED
    clock.advance(DAY)  # the delay before execution
    await worker.run_once()
    assert (await platform.governance.get(proposal.id)).state is ProposalState.EXECUTED
    await platform.close()
