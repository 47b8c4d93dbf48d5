"""Co-op rules on the in-memory database, driven by a manual clock: what members and operators notice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from engine.coops.bylaws import Admission, Bylaws, VotingMode
from engine.coops.model import CatalogItem, CoopState, MemberState, ProposalState, Role
from engine.kernel.clock import ManualClock
from engine.kernel.errors import (
    AlreadyMember,
    ContributionOutOfRange,
    CoopNotActive,
    InsufficientFunds,
    InvalidBylaws,
    InvalidChoice,
    NotAMember,
    NotInElectorate,
    PinNotVerified,
    ProposalNotCancellable,
    TooManyOpenProposals,
    VotingClosed,
)
from engine.platform import Platform
from storage import open_store
from tests.conftest import TEST_CONFIG, TEST_HASHER
from tests.support.coops import DAY, HOUR, TEST_BYLAWS, CoopWorld, K

CONFIG = replace(TEST_CONFIG, starting_credit_ngwee=0, sms_daily_cap=1000)


@pytest.fixture
async def world() -> AsyncIterator[CoopWorld]:
    clock = ManualClock()
    platform = Platform(await open_store("memory:", clock=clock), CONFIG, TEST_HASHER, clock)
    await platform.bootstrap()
    yield CoopWorld(platform, clock)
    await platform.close()


async def test_a_founder_forms_a_coop_that_becomes_active_when_enough_members_pay_the_minimum(world: CoopWorld) -> None:
    founder = await world.user("Mwila")
    coop = await world.form(founder)
    assert coop.state is CoopState.FORMING
    assert (await world.platform.coops.member(coop.id, founder)).state is MemberState.ADMITTED  # type: ignore[union-attr]
    assert (await world.platform.clusters.get(coop.id)).cluster.name == "Chawama Solar"  # it runs a cluster
    others = [await world.user() for _ in range(2)]
    for person in others:
        await world.platform.coops.join(person, coop.id)
    for person in [founder, *others]:
        await world.contribute(person, coop, 2_000 * K)
    active = await world.platform.coops.get(coop.id)
    assert active.state is CoopState.ACTIVE
    assert active.full_members == 3
    assert await world.treasury(coop) == 6_000 * K
    assert (await world.sms(founder, "sms.coop_active"))[0]["members"] == 3


async def test_a_contribution_becomes_whole_shares_at_par_and_the_rest_is_credit(world: CoopWorld) -> None:
    founder = await world.user(ngwee=6_000 * K)
    coop = await world.form(founder)
    receipt = await world.contribute(founder, coop, 1_250 * K)  # par K100: 12 shares and K50 credit
    assert (receipt.member.shares, receipt.member.credit_ngwee) == (12, 50 * K)
    assert receipt.member.state is MemberState.ADMITTED  # below the K2,000 minimum: no vote yet
    receipt = await world.contribute(founder, coop, 800 * K)  # K50 + K800 = 8 shares and K50
    assert (receipt.member.shares, receipt.member.credit_ngwee) == (20, 50 * K)
    assert receipt.member.state is MemberState.FULL
    assert await world.balance(founder) == (6_000 - 2_050) * K
    receipts = await world.sms(founder, "sms.coop_contribution")
    assert sorted((s["shares"], s["credit_ngwee"], s["full"]) for s in receipts) == [(12, 50 * K, 0), (20, 50 * K, 1)]
    with pytest.raises(ContributionOutOfRange) as over:
        await world.contribute(founder, coop, 3_000 * K)  # K5,000 is the most anyone holds
    assert over.value.params["most_ngwee"] == (5_000 - 2_050) * K


async def test_a_retried_contribution_moves_money_and_shares_once(world: CoopWorld) -> None:
    founder = await world.user()
    coop = await world.form(founder)
    first = await world.contribute(founder, coop, 500 * K, operation_id="op-contrib-1")
    again = await world.contribute(founder, coop, 500 * K, operation_id="op-contrib-1")
    assert again.replayed
    assert again.reference == first.reference
    member = await world.platform.coops.member(coop.id, founder)
    assert member is not None
    assert member.shares == 5
    assert await world.treasury(coop) == 500 * K


async def test_money_never_moves_without_the_pin_or_beyond_the_wallet(world: CoopWorld) -> None:
    founder, stranger = await world.user(ngwee=1_000 * K), await world.user()
    coop = await world.form(founder)
    with pytest.raises(PinNotVerified):
        await world.platform.coops.contribute(await world.proof(stranger), founder, coop.id, 100 * K)
    with pytest.raises(InsufficientFunds):
        await world.contribute(founder, coop, 1_500 * K)
    with pytest.raises(NotAMember):
        await world.contribute(stranger, coop, 100 * K)
    assert await world.treasury(coop) == 0
    member = await world.platform.coops.member(coop.id, founder)
    assert member is not None
    assert member.contributed_ngwee == 0


async def test_after_the_deadline_an_instalment_must_reach_the_minimum(world: CoopWorld) -> None:
    founder = await world.user()
    coop = await world.form(founder, bylaws=replace(TEST_BYLAWS, contribution_deadline_days=30))
    await world.contribute(founder, coop, 500 * K)
    world.clock.advance(31 * DAY)
    with pytest.raises(ContributionOutOfRange) as late:
        await world.contribute(founder, coop, 500 * K)
    assert late.value.params["least_ngwee"] == 1_500 * K
    assert (await world.contribute(founder, coop, 1_500 * K)).member.state is MemberState.FULL


async def test_a_leaver_is_refunded_at_par_after_notice_and_refunds_wait_in_order_for_money(world: CoopWorld) -> None:
    coop, (a, b, c) = await world.active_coop(3)
    spend = await world.propose(a, coop, "maintenance", phone=c.phone, amount_ngwee=4_500 * K, text="inverter")
    await world.wait(HOUR)
    for person in (a, b):
        await world.vote(person, spend, 1)
    await world.wait(4 * DAY)  # closes, then executes after a day: K6,000 - K4,500 = K1,500 left
    assert (await world.platform.governance.get(spend.id)).state is ProposalState.EXECUTED
    assert await world.treasury(coop) == 1_500 * K
    before_a, before_b = await world.balance(a), await world.balance(b)
    await world.platform.coops.leave(await world.proof(a), a, coop.id)
    world.clock.advance(HOUR)
    await world.platform.coops.leave(await world.proof(b), b, coop.id)
    await world.wait(30 * DAY)  # notice over: K2,000 each is due, the treasury holds K1,500
    assert await world.balance(a) == before_a
    assert await world.treasury(coop) == 1_500 * K
    await world.fund(c, 10_000 * K)
    await world.contribute(c, coop, 1_000 * K)  # K2,500 now: a's refund fits, b's still waits behind it
    await world.wait(HOUR)
    assert await world.balance(a) == before_a + 2_000 * K
    assert await world.balance(b) == before_b
    assert (await world.platform.coops.member(coop.id, a)).state is MemberState.LEFT  # type: ignore[union-attr]
    await world.contribute(c, coop, 1_500 * K)
    await world.wait(HOUR)
    assert await world.balance(b) == before_b + 2_000 * K
    assert (await world.sms(b, "sms.coop_refund"))[0]["ngwee"] == 2_000 * K


async def test_a_proposal_moves_on_time_and_members_are_told_at_each_step(world: CoopWorld) -> None:
    coop, (a, b, c) = await world.active_coop(3)
    proposal = await world.propose(a, coop, "decision", text="Clean the panels every Saturday")
    assert proposal.state is ProposalState.PENDING
    with pytest.raises(VotingClosed):
        await world.vote(b, proposal, 1)  # the voting delay is not over
    await world.wait(HOUR)
    assert (await world.platform.governance.get(proposal.id)).state is ProposalState.ACTIVE
    assert [s["number"] for s in await world.sms(c, "sms.coop_voting_open")] == [proposal.number]
    await world.vote(a, proposal, 1)
    await world.wait(2 * DAY)  # 24 h before the close: a reminder to those who have not voted
    assert await world.sms(a, "sms.coop_vote_reminder") == []
    assert len(await world.sms(b, "sms.coop_vote_reminder")) == 1
    await world.vote(b, proposal, 3)  # abstain counts toward the quorum
    await world.wait(DAY)
    decided = await world.platform.governance.get(proposal.id)
    assert decided.state is ProposalState.QUEUED
    assert decided.tally.yes == 1
    assert decided.tally.abstain == 1
    assert (await world.sms(c, "sms.coop_passed"))[0]["yes"] == 1
    await world.wait(DAY)
    assert (await world.platform.governance.get(proposal.id)).state is ProposalState.EXECUTED
    assert len(await world.sms(c, "sms.coop_executed")) == 1
    await world.wait(DAY)  # nothing more happens, and nothing is sent twice
    assert len(await world.sms(c, "sms.coop_executed")) == 1


async def test_only_the_last_vote_counts_and_no_vote_lands_after_the_close(world: CoopWorld) -> None:
    coop, (a, b, c) = await world.active_coop(3)
    proposal = await world.propose(a, coop, "set_price", price_ngwee_per_kwh=150)
    await world.wait(HOUR)
    await world.vote(a, proposal, 2)
    changed = await world.vote(a, proposal, 1)
    assert changed.changed
    assert changed.proposal.tally.yes == 1
    assert changed.proposal.tally.no == 0
    assert changed.proposal.tally.voters == 1
    await world.vote(b, proposal, 1)
    with pytest.raises(InvalidChoice):
        await world.vote(c, proposal, 4)
    world.clock.advance(3 * DAY)  # the close is due, whether or not the scheduler ran yet
    with pytest.raises(VotingClosed):
        await world.vote(c, proposal, 2)
    await world.wait(2 * DAY)
    assert (await world.platform.governance.get(proposal.id)).state is ProposalState.EXECUTED
    assert (await world.platform.clusters.get(coop.id)).cluster.price_ngwee_per_kwh == 150


async def test_without_a_quorum_a_proposal_is_defeated_and_a_bylaw_needs_two_thirds(world: CoopWorld) -> None:
    coop, people = await world.active_coop(6)
    quiet = await world.propose(people[0], coop, "decision", text="Buy a padlock")
    bylaw = await world.propose(people[1], coop, "change_bylaw", bylaw="quorum_pct", value=40)
    await world.wait(HOUR)
    await world.vote(people[0], quiet, 1)  # 1 of 6: no quorum
    for person, choice in zip(people, (1, 1, 1, 2, 2, 3), strict=True):
        await world.vote(person, bylaw, choice)  # 3 yes of 5 cast: a majority, not two-thirds
    await world.wait(3 * DAY)
    assert (await world.platform.governance.get(quiet.id)).state is ProposalState.DEFEATED
    assert (await world.platform.governance.get(bylaw.id)).state is ProposalState.DEFEATED
    assert (await world.sms(people[5], "sms.coop_defeated"))[0]["quorum"] in (0, 1)
    assert (await world.platform.coops.get(coop.id)).bylaws.quorum_pct == 50
    with pytest.raises(InvalidBylaws):
        await world.propose(people[0], coop, "change_bylaw", bylaw="quorum_pct", value=0)


async def test_the_electorate_is_fixed_when_a_proposal_is_made(world: CoopWorld) -> None:
    coop, (a, _b, _c) = await world.active_coop(3)
    proposal = await world.propose(a, coop, "decision", text="Paint the shed")
    late = await world.user()
    await world.platform.coops.join(late, coop.id)
    await world.contribute(late, coop, 2_000 * K)
    await world.wait(HOUR)
    with pytest.raises(NotInElectorate):
        await world.vote(late, proposal, 1)
    assert proposal.electorate_size == 3


async def test_a_failed_execution_is_explained_retried_and_expires(world: CoopWorld) -> None:
    coop, (a, b, c) = await world.active_coop(3)
    payee = await world.user(ngwee=0)
    spend = await world.propose(a, coop, "maintenance", phone=payee.phone, amount_ngwee=9_000 * K, text="battery")
    await world.wait(HOUR)
    for person in (a, b, c):
        await world.vote(person, spend, 1)
    await world.wait(4 * DAY)
    failed = await world.platform.governance.get(spend.id)
    assert failed.state is ProposalState.QUEUED
    assert failed.failure == "insufficient_funds"
    assert (await world.sms(b, "sms.coop_execution_failed"))[0]["why"] == 1
    assert await world.balance(payee) == 0
    assert await world.treasury(coop) == 6_000 * K
    await world.wait(15 * DAY)
    for _ in range(60):  # retried every 6 hours until the grace period ends
        await world.wait(6 * HOUR)
    assert (await world.platform.governance.get(spend.id)).state is ProposalState.EXPIRED
    assert len(await world.sms(b, "sms.coop_execution_failed")) == 1  # told once, then at expiry
    assert len(await world.sms(b, "sms.coop_expired")) == 1


async def test_a_coop_that_admits_by_vote_opens_a_proposal_for_each_application(world: CoopWorld) -> None:
    coop, (a, b, _c) = await world.active_coop(3, bylaws=replace(TEST_BYLAWS, admission=Admission.BY_VOTE))
    applicant = await world.user()
    member = await world.platform.coops.join(applicant, coop.id)
    assert member.state is MemberState.APPLIED
    with pytest.raises(AlreadyMember):
        await world.platform.coops.join(applicant, coop.id)
    [admit] = await world.platform.governance.proposals(coop.id, open_only=True)
    assert admit.kind == "admit_member"
    assert admit.proposer_id == 0
    await world.wait(HOUR)
    await world.vote(a, admit, 1)
    await world.vote(b, admit, 1)
    await world.wait(3 * DAY)
    assert (await world.platform.coops.member(coop.id, applicant)).state is MemberState.ADMITTED  # type: ignore[union-attr]
    assert len(await world.sms(applicant, "sms.coop_admitted")) == 1


async def test_roles_equipment_and_share_weighted_votes(world: CoopWorld) -> None:
    supplier_founder = await world.user()
    supplier = await world.form(supplier_founder, kind="supply", name="Copperbelt Panels")
    await world.platform.coops.offer_item(
        supplier.id, CatalogItem(supplier.id, "panel-400w", "Panel 400W", 1_500 * K, 2_000)
    )
    weighted = replace(TEST_BYLAWS, voting_mode=VotingMode.SHARE_WEIGHTED)
    coop, (a, b, c) = await world.active_coop(3, bylaws=weighted)
    await world.contribute(c, coop, 3_000 * K)  # c holds 50 shares, a and b 20 each
    buy = await world.propose(a, coop, "buy_equipment", supplier=supplier.id, item="panel-400w", quantity=2)
    elect = await world.propose(b, coop, "elect_role", phone=c.phone, role="treasurer")
    assert buy.electorate_weight == 90
    await world.wait(HOUR)
    for proposal in (buy, elect):
        await world.vote(a, proposal, 1)
        await world.vote(b, proposal, 1)
        await world.vote(c, proposal, 2)  # 50 against 40: c alone outweighs a and b
    await world.wait(5 * DAY)
    assert (await world.platform.governance.get(buy.id)).state is ProposalState.DEFEATED
    assert (await world.platform.coops.member(coop.id, c)).role is Role.MEMBER  # type: ignore[union-attr]
    again = await world.propose(c, coop, "buy_equipment", supplier=supplier.id, item="panel-400w", quantity=2)
    await world.wait(HOUR)
    await world.vote(c, again, 1)
    await world.wait(5 * DAY)
    assert (await world.platform.governance.get(again.id)).state is ProposalState.EXECUTED
    assert await world.treasury(supplier) == 3_000 * K
    assert [asset.quantity for asset in await world.platform.store.coops.assets(coop.id)] == [2]


async def test_proposals_are_limited_per_member_need_an_active_coop_and_only_pending_ones_cancel(
    world: CoopWorld,
) -> None:
    founder = await world.user()
    forming = await world.form(founder, bylaws=Bylaws(min_members=5))
    await world.contribute(founder, forming, 2_000 * K)
    with pytest.raises(CoopNotActive):
        await world.propose(founder, forming, "decision", text="Anything at all")
    coop, (a, b, _c) = await world.active_coop(3)
    made = [await world.propose(a, coop, "decision", text=f"Item number {i}") for i in range(3)]
    with pytest.raises(TooManyOpenProposals):
        await world.propose(a, coop, "decision", text="One too many")
    with pytest.raises(ProposalNotCancellable):
        await world.platform.governance.cancel(await world.proof(b), b, made[0].id)
    cancelled = await world.platform.governance.cancel(await world.proof(a), a, made[0].id)
    assert cancelled.state is ProposalState.CANCELLED
    await world.propose(a, coop, "decision", text="Room for this one now")


async def test_hidden_results_show_after_the_close_and_the_log_recounts_every_tally(world: CoopWorld) -> None:
    coop, (a, b, _c) = await world.active_coop(3, bylaws=replace(TEST_BYLAWS, hide_results_until_close=True))
    proposal = await world.propose(a, coop, "decision", text="Hold a meeting")
    await world.wait(HOUR)
    await world.vote(a, proposal, 1)
    await world.vote(b, proposal, 2)
    await world.vote(b, proposal, 1)
    governance = world.platform.governance
    assert governance.visible_tally(await governance.get(proposal.id)) is None
    await world.wait(3 * DAY)
    shown = governance.visible_tally(await governance.get(proposal.id))
    assert shown is not None
    assert (shown.yes, shown.no, shown.voters) == (2, 0, 2)
    broken, recounts = await governance.verify(coop.id)
    assert broken is None
    assert all(r.agrees for r in recounts)
    assert len(recounts) == 1
