"""Co-op governance under concurrency on SQLite and PostgreSQL: votes, retries, the close, execution.

Every vote counted once (each member's last), no vote after the close, every
execution exactly once, the treasury and the ledger agree, and both the
governance log and the ledger verify.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from engine.coops.audit import AuditKind
from engine.coops.model import ProposalState
from engine.kernel.clock import ManualClock
from engine.kernel.errors import VotingClosed
from engine.ledger.model import TransferCode
from engine.ledger.verify import verify_ledger
from engine.platform import Platform
from engine.uow import Database as Store
from tests.conftest import TEST_CONFIG, TEST_HASHER
from tests.support.coops import DAY, HOUR, TEST_BYLAWS, CoopWorld, K

CONFIG = replace(TEST_CONFIG, starting_credit_ngwee=0, sms_daily_cap=1000)


class TickingClock(ManualClock):
    """Every reading moves time on by ``tick_us``: concurrent work interleaves with a deadline."""

    tick_us = 0

    def now_us(self) -> int:
        now = super().now_us()
        self.advance(us=self.tick_us)
        return now


@pytest.fixture
async def world(store: Store, clock: ManualClock) -> CoopWorld:
    platform = Platform(store, CONFIG, TEST_HASHER, clock)
    await platform.bootstrap()
    return CoopWorld(platform, clock)


async def assert_consistent(world: CoopWorld, coop_id: str) -> None:
    broken, recounts = await world.platform.governance.verify(coop_id)
    assert broken is None, broken
    assert all(r.agrees for r in recounts), [r for r in recounts if not r.agrees]
    report = await verify_ledger(world.platform.store.ledger)
    assert report.ok, report.problems


async def test_concurrent_and_repeated_votes_count_each_members_last_vote_once(world: CoopWorld) -> None:
    coop, people = await world.active_coop(12)
    proposal = await world.propose(people[0], coop, "decision", text="Buy a second battery")
    await world.wait(HOUR)
    proofs = [await world.proof(p) for p in people]
    vote = world.platform.governance.vote
    # Each member votes No and then, at the same time, Yes twice (a retried request): the last is Yes.
    await asyncio.gather(*(vote(proofs[i], p, proposal.id, 2) for i, p in enumerate(people)))
    await asyncio.gather(*(vote(proofs[i], p, proposal.id, 1) for i, p in enumerate(people) for _ in range(2)))
    stored = await world.platform.governance.get(proposal.id)
    assert (stored.tally.yes, stored.tally.no, stored.tally.voters) == (12, 0, 12)
    await assert_consistent(world, coop.id)


async def test_a_vote_racing_the_close_lands_before_it_or_is_refused(store: Store) -> None:
    clock = TickingClock()
    world = CoopWorld(Platform(store, CONFIG, TEST_HASHER, clock), clock)
    await world.platform.bootstrap()
    coop, people = await world.active_coop(10)
    proposal = await world.propose(people[0], coop, "decision", text="Open on Sundays")
    await world.wait(HOUR)
    clock.set(proposal.vote_end_us - 150_000)  # 150 ms of voting left, in 10 ms ticks of readings
    proofs = [await world.proof(p) for p in people]
    clock.set(proposal.vote_end_us - 150_000)
    clock.tick_us = 10_000

    async def cast(i: int) -> bool:
        try:
            await world.platform.governance.vote(proofs[i], people[i], proposal.id, 1)
            return True
        except VotingClosed:
            return False

    outcomes = await asyncio.gather(*(cast(i) for i in range(10)), world.platform.governance.advance(proposal.id))
    counted = sum(1 for landed in outcomes[:10] if landed)
    assert 0 < counted < 10  # the close fell among the votes: some landed before it, the rest were refused
    clock.tick_us = 0
    decided = await world.platform.governance.get(proposal.id)
    assert decided.tally.voters == counted
    assert decided.state is not ProposalState.ACTIVE or counted < 10
    log = await world.platform.store.coops.audit_entries(coop.id)
    closes = [e.seq for e in log if e.kind is AuditKind.TRANSITION and e.body.get("from") == "active"]
    votes = [e.seq for e in log if e.kind is AuditKind.VOTED]
    assert len(votes) == counted
    assert all(seq < closes[0] for seq in votes) if closes else True  # nothing after the close
    await assert_consistent(world, coop.id)


async def test_execution_runs_once_however_many_workers_wake_the_proposal(world: CoopWorld) -> None:
    coop, (a, b, c) = await world.active_coop(3)
    payee = await world.user(ngwee=0)
    spend = await world.propose(a, coop, "maintenance", phone=payee.phone, amount_ngwee=1_000 * K, text="wiring")
    await world.wait(HOUR)
    for person in (a, b, c):
        await world.vote(person, spend, 1)
    world.clock.advance(3 * DAY)
    await world.platform.governance.advance(spend.id)  # closes and queues
    world.clock.advance(DAY)
    await asyncio.gather(*(world.platform.governance.advance(spend.id) for _ in range(6)), world.run_jobs())
    assert (await world.platform.governance.get(spend.id)).state is ProposalState.EXECUTED
    assert await world.balance(payee) == 1_000 * K
    assert await world.treasury(coop) == 5_000 * K
    spent = await world.platform.store.ledger.sum_transfers(codes=[TransferCode.COOP_SPEND])
    assert spent == 1_000 * K
    await assert_consistent(world, coop.id)


async def test_a_contribution_retried_at_the_same_time_is_paid_once(world: CoopWorld) -> None:
    founder = await world.user()
    coop = await world.form(founder, bylaws=TEST_BYLAWS)
    proof = await world.proof(founder)
    receipts = await asyncio.gather(
        *(world.platform.coops.contribute(proof, founder, coop.id, 700 * K, operation_id="op-same") for _ in range(5))
    )
    assert sum(1 for r in receipts if not r.replayed) == 1
    assert len({r.reference for r in receipts}) == 1
    member = await world.platform.coops.member(coop.id, founder)
    assert member is not None
    assert (member.shares, member.contributed_ngwee) == (7, 700 * K)
    assert await world.treasury(coop) == 700 * K
    await assert_consistent(world, coop.id)
