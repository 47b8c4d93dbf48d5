"""Properties of the member register and of tallies, under random sequences of what members do.

- For every member, always: shares x par + credit == contributions - refunds, and the
  treasury holds exactly what was contributed and not refunded (no spending here).
- A proposal's tally always equals a recount from its votes and a recount from the
  governance log alone (only each member's last vote counts), and the log's chain holds.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.coops.bylaws import VotingMode
from engine.kernel.clock import ManualClock
from engine.kernel.errors import EnerlectraError
from engine.ledger.model import TransferCode
from engine.platform import Platform
from storage import open_store
from tests.conftest import TEST_CONFIG, TEST_HASHER
from tests.support.coops import DAY, HOUR, TEST_BYLAWS, CoopWorld, K

CONFIG = replace(TEST_CONFIG, starting_credit_ngwee=0, sms_daily_cap=1000)
MEMBERS = 4

register_action = st.one_of(
    st.tuples(st.just("contribute"), st.integers(0, MEMBERS - 1), st.integers(1, 6_000 * K)),
    st.tuples(st.just("contribute_k"), st.integers(0, MEMBERS - 1), st.integers(1, 60)),  # whole hundreds of Kwacha
    st.tuples(st.just("leave"), st.integers(0, MEMBERS - 1), st.just(0)),
    st.tuples(st.just("join"), st.integers(0, MEMBERS - 1), st.just(0)),
    st.tuples(st.just("wait_days"), st.just(0), st.integers(1, 40)),
)


async def new_world() -> CoopWorld:
    clock = ManualClock()
    platform = Platform(await open_store("memory:", clock=clock), CONFIG, TEST_HASHER, clock)
    await platform.bootstrap()
    return CoopWorld(platform, clock)


async def check_register(world: CoopWorld, coop_id: str) -> None:
    coop = await world.platform.coops.get(coop_id)
    par = coop.bylaws.par_value_ngwee
    everyone = await world.platform.store.coops.members(coop_id, limit=1000)
    departed = [m for m in await _all_rows(world, coop_id) if m not in everyone]
    contributed = refunded = 0
    for member in [*everyone, *departed]:
        assert member.shares * par + member.credit_ngwee == member.contributed_ngwee - member.refunded_ngwee
        assert 0 <= member.credit_ngwee < par
        contributed += member.contributed_ngwee
        refunded += member.refunded_ngwee
    assert await world.treasury(coop) == contributed - refunded
    ledger = world.platform.store.ledger
    paid_in = await ledger.sum_transfers(
        codes=[TransferCode.COOP_CONTRIBUTION], credit_account_id=coop.treasury_account_id
    )
    paid_out = await ledger.sum_transfers(codes=[TransferCode.COOP_REFUND], debit_account_id=coop.treasury_account_id)
    assert (paid_in, paid_out) == (contributed, refunded)


async def _all_rows(world: CoopWorld, coop_id: str) -> list:  # type: ignore[type-arg]
    """Every row of the register, departed members too (they keep their totals)."""
    rows = []
    for user_id in range(1, 200):
        member = await world.platform.store.coops.member(coop_id, user_id)
        if member is not None:
            rows.append(member)
    return rows


async def run_register(actions: list[tuple[str, int, int]]) -> None:
    world = await new_world()
    try:
        people = [await world.user(ngwee=20_000 * K) for _ in range(MEMBERS)]
        coop = await world.form(people[0], bylaws=replace(TEST_BYLAWS, exit_notice_days=7))
        for kind, who, amount in actions:
            person = people[who]
            try:
                if kind == "contribute":
                    await world.contribute(person, coop, amount)
                elif kind == "contribute_k":
                    await world.contribute(person, coop, amount * 100 * K)
                elif kind == "leave":
                    await world.platform.coops.leave(await world.proof(person), person, coop.id)
                elif kind == "join":
                    await world.platform.coops.join(person, coop.id)
                else:
                    await world.wait(amount * DAY)
            except EnerlectraError:
                pass  # a refusal changes nothing: the invariants below say so
            await check_register(world, coop.id)
    finally:
        await world.platform.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(register_action, min_size=1, max_size=25))
def test_shares_at_par_plus_credit_always_equal_contributions_less_refunds(actions: list[tuple[str, int, int]]) -> None:
    asyncio.run(run_register(actions))


vote_action = st.tuples(st.integers(0, 5), st.sampled_from([1, 2, 3]))


async def run_votes(votes: list[tuple[int, int]], weighted: bool) -> None:
    world = await new_world()
    try:
        bylaws = replace(TEST_BYLAWS, voting_mode=VotingMode.SHARE_WEIGHTED if weighted else TEST_BYLAWS.voting_mode)
        coop, people = await world.active_coop(5, bylaws=bylaws)
        await world.contribute(people[1], coop, 1_234 * K)  # different weights when shares count
        outsider = await world.user()
        people.append(outsider)  # never in the electorate: refused every time
        proposal = await world.propose(people[0], coop, "decision", text="Fence the panels")
        await world.wait(HOUR)
        last: dict[int, int] = {}
        for who, choice in votes:
            try:
                await world.vote(people[who], proposal, choice)
                last[who] = choice
            except EnerlectraError:
                assert who == 5
            stored = (await world.platform.governance.get(proposal.id)).tally
            assert stored.voters == len(last)
            recorded = [i for i, p in enumerate(people) if await world.platform.governance.my_vote(proposal.id, p)]
            assert recorded == sorted(last)
        await world.wait(3 * DAY)
        broken, recounts = await world.platform.governance.verify(coop.id)
        assert broken is None
        [recount] = recounts
        assert recount.agrees, recount
        yes_voters = [who for who, choice in last.items() if choice == 1]
        if not weighted:
            assert recount.stored.yes == len(yes_voters)
    finally:
        await world.platform.close()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(vote_action, max_size=20), st.booleans())
def test_a_tally_always_equals_a_recount_of_last_votes_from_the_log(
    votes: list[tuple[int, int]], weighted: bool
) -> None:
    asyncio.run(run_votes(votes, weighted))
