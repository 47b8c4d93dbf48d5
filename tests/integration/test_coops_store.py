"""The co-ops store on every backend: co-ops, registers, proposals, votes and the governance log.

Run on SQLite, PostgreSQL and the in-memory database, so the fake the
service tests use answers like the real ones: what each record reads back as
(bylaws, payloads and enums included), who wins a compare-and-set, the
orders and pages screens show, the refund queue, replaced votes, who has not
voted yet, an append-only log, and that a unit of work that raises leaves
nothing behind.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace

import asyncpg
import pytest

from engine.coops.audit import GENESIS, AuditEntry, AuditKind, next_entry, verify_chain
from engine.coops.bylaws import Admission, Bylaws, VotingMode
from engine.coops.model import (
    Asset,
    CatalogItem,
    Choice,
    Cooperative,
    CoopState,
    Member,
    MemberState,
    Proposal,
    ProposalKind,
    ProposalState,
    Region,
    Role,
    Tally,
    Vote,
)
from engine.energy.model import Cluster, ClusterKind
from engine.identity.model import Language, User
from engine.kernel.clock import MICROS_PER_SECOND
from engine.uow import Database as Store
from engine.uow import Repositories
from storage.memory.ledger import ConstraintViolation
from storage.sqlite import sqlite_path
from tests.conftest import StoreOpener
from tests.integration.conftest import ALL_BACKENDS

pytestmark = ALL_BACKENDS

# What each backend raises for a row its schema refuses (an engine bug, never a user's error).
REFUSED = (sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError, ConstraintViolation)
S = MICROS_PER_SECOND
T0 = 1_767_225_600 * S  # the test clock's start
BYLAWS = Bylaws(
    min_members=3,
    voting_mode=VotingMode.SHARE_WEIGHTED,
    admission=Admission.BY_VOTE,
    hide_results_until_close=True,
    quorum_pct=40,
)


async def register(store: Store, n: int) -> User:
    phone = f"+26097700{n:04d}"
    return await store.atomic(
        lambda r: r.users.insert_user(phone=phone, name=f"Member {n}", language=Language.ENGLISH, pin_hash="h")
    )


async def register_many(store: Store, count: int) -> list[User]:
    async def work(r: Repositories) -> list[User]:
        return [
            await r.users.insert_user(phone=f"+26096{n:07d}", name="M", language=Language.NYANJA, pin_hash="h")
            for n in range(count)
        ]

    return await store.atomic(work)


def make_coop(coop_id: str, founder: User, *, name: str = "", region: Region = Region.LUSAKA) -> Cooperative:
    return Cooperative(
        id=coop_id,
        name=name or coop_id.title(),
        kind="neighbourhood",
        region=region,
        bylaws=BYLAWS,
        founder_id=founder.id,
        created_at_us=T0,
    )


async def form(store: Store, coop: Cooperative) -> bool:
    cluster = Cluster(coop.id, coop.name, ClusterKind(coop.kind), "Lusaka", 10_000, 120, T0)

    async def work(r: Repositories) -> bool:
        if await r.clusters.cluster_by_id(coop.id) is None:
            await r.clusters.insert_cluster(cluster)
        return await r.coops.insert_coop(coop)

    return await store.atomic(work)


def make_member(coop: Cooperative, user: User, state: MemberState = MemberState.FULL, **changes: object) -> Member:
    made = Member(coop.id, user.id, user.phone, state, joined_at_us=T0 + user.id)
    return replace(made, **changes)  # type: ignore[arg-type]


async def join(store: Store, *members: Member) -> list[bool]:
    async def work(r: Repositories) -> list[bool]:
        return [await r.coops.insert_member(m) for m in members]

    return await store.atomic(work)


def make_proposal(n: int, coop: Cooperative, proposer_id: int, **changes: object) -> Proposal:
    made = Proposal(
        id=f"prop{n:03d}",
        coop_id=coop.id,
        kind=ProposalKind.SET_PRICE,
        proposer_id=proposer_id,
        payload={"price_ngwee_per_kwh": 130, "why": "diesel went up"},
        state=ProposalState.ACTIVE,
        created_at_us=T0 + n * S,
        vote_start_us=T0 + n * S + 3600 * S,
        vote_end_us=T0 + n * S + 7200 * S,
        electorate_size=3,
        electorate_weight=60,
        quorum_pct=40,
        pass_pct=50,
        supermajority=False,
    )
    return replace(made, **changes)  # type: ignore[arg-type]


async def propose(store: Store, proposal: Proposal, electorate: list[tuple[int, int]]) -> None:
    await store.atomic(lambda r: r.coops.insert_proposal(proposal, electorate))


async def save_vote(store: Store, vote: Vote) -> None:
    await store.atomic(lambda r: r.coops.save_vote(vote))


async def upsert_item(store: Store, item: CatalogItem) -> None:
    await store.atomic(lambda r: r.coops.upsert_catalog_item(item))


async def insert_asset(store: Store, asset: Asset) -> None:
    await store.atomic(lambda r: r.coops.insert_asset(asset))


async def test_a_coop_is_stored_once_on_its_cluster_and_reads_back_whole(store: Store) -> None:
    founder = await register(store, 1)
    coop = make_coop("kabulonga", founder)
    assert await form(store, coop)
    assert await form(store, replace(coop, name="Another")) is False  # the same id: the first is kept
    assert await store.coops.coop_by_id("kabulonga") == coop
    assert await store.coops.coop_by_id("nowhere") is None
    read = await store.coops.coop_by_id("kabulonga")
    assert read is not None
    assert (read.bylaws, read.region, read.state) == (BYLAWS, Region.LUSAKA, CoopState.FORMING)
    assert read.bylaws.voting_mode is VotingMode.SHARE_WEIGHTED
    assert read.bylaws.hide_results_until_close is True
    # A co-op needs its cluster (same id) and a registered founder.
    with pytest.raises(REFUSED):
        await store.atomic(lambda r: r.coops.insert_coop(make_coop("no-cluster", founder)))


async def test_update_coop_stores_state_members_bylaws_and_the_audit_head(store: Store) -> None:
    founder = await register(store, 1)
    coop = make_coop("kabulonga", founder)
    await form(store, coop)
    changed = replace(
        coop,
        name="Renamed",  # fixed when formed: not written
        state=CoopState.ACTIVE,
        full_members=3,
        bylaws=BYLAWS.changed({"pass_pct": 66}),
        audit_seq=7,
        audit_hash="ab" * 32,
    )

    async def work(r: Repositories) -> Cooperative | None:
        locked = await r.coops.coop_for_update("kabulonga")
        assert locked == coop
        await r.coops.update_coop(changed)
        return await r.coops.coop_by_id("kabulonga")  # the transaction sees its own change

    assert await store.atomic(work) == replace(changed, name=coop.name)
    assert await store.coops.coop_by_id("kabulonga") == replace(changed, name=coop.name)
    assert await store.atomic(lambda r: r.coops.coop_for_update("nowhere")) is None


async def test_coops_are_listed_by_name_within_a_region_and_in_pages(store: Store) -> None:
    founder = await register(store, 1)
    for coop_id, name, region in [
        ("c1", "Mtendere Solar", Region.LUSAKA),
        ("c2", "Chelstone Grid", Region.LUSAKA),
        ("c3", "Kitwe Park", Region.COPPERBELT),
        ("c4", "Avondale Sun", Region.LUSAKA),
    ]:
        await form(store, make_coop(coop_id, founder, name=name, region=region))
    names = [c.name for c in await store.coops.list_coops()]
    assert names == ["Avondale Sun", "Chelstone Grid", "Kitwe Park", "Mtendere Solar"]
    lusaka = await store.coops.list_coops(region="lusaka")
    assert [c.id for c in lusaka] == ["c4", "c2", "c1"]
    assert [c.id for c in await store.coops.list_coops(region="lusaka", limit=2, offset=1)] == ["c2", "c1"]
    assert await store.coops.list_coops(region="rural") == []


async def test_a_member_reads_back_with_their_phone_and_changes_by_compare_and_set(store: Store) -> None:
    founder, mutale = await register(store, 1), await register(store, 2)
    coop = make_coop("kabulonga", founder)
    await form(store, coop)
    applied = make_member(coop, mutale, MemberState.APPLIED, phone="")  # the stored phone is the user's
    assert await join(store, applied) == [True]
    assert await join(store, make_member(coop, mutale, MemberState.FULL)) == [False]  # in the register already
    stored = await store.coops.member("kabulonga", mutale.id)
    assert stored == replace(applied, phone=mutale.phone)
    assert await store.coops.member("kabulonga", founder.id) is None

    full = replace(
        stored,
        state=MemberState.FULL,
        role=Role.TREASURER,
        contributed_ngwee=250_000,
        shares=25,
        credit_ngwee=0,
        exit_at_us=T0 + 9,
    )

    async def update(changed: Member) -> bool:
        async def work(r: Repositories) -> bool:
            await r.coops.member_for_update(changed.coop_id, changed.user_id)  # locked, as the service does
            return await r.coops.update_member(changed)

        return await store.atomic(work)

    assert await update(full)
    assert await store.coops.member("kabulonga", mutale.id) == replace(full, version=1)
    assert not await update(replace(full, shares=99))  # still at version 0: someone changed it meanwhile
    assert await update(replace(full, shares=26, version=1))
    read = await store.coops.member("kabulonga", mutale.id)
    assert read is not None
    assert (read.shares, read.version, read.role) == (26, 2, Role.TREASURER)
    assert not await update(replace(full, user_id=founder.id))  # no such member


async def test_the_schema_refuses_what_no_member_may_be(store: Store) -> None:
    founder, mutale = await register(store, 1), await register(store, 2)
    coop = make_coop("kabulonga", founder)
    await form(store, coop)
    for bad in [
        make_member(coop, mutale, contributed_ngwee=100, refunded_ngwee=200),  # paid back more than paid in
        make_member(coop, mutale, shares=-1),
        replace(make_member(coop, mutale), coop_id="nowhere"),
        replace(make_member(coop, mutale), user_id=mutale.id + 99),
    ]:
        with pytest.raises(REFUSED):
            await join(store, bad)


async def test_the_register_lists_current_members_most_shares_first_in_pages(store: Store) -> None:
    founder = await register(store, 1)
    coop = make_coop("kabulonga", founder)
    await form(store, coop)
    users = [await register(store, n) for n in range(2, 9)]
    await join(
        store,
        make_member(coop, users[0], shares=5, joined_at_us=T0 + 3),
        make_member(coop, users[1], shares=20, joined_at_us=T0 + 9),
        make_member(coop, users[2], MemberState.ADMITTED, shares=5, joined_at_us=T0 + 1),
        make_member(coop, users[3], MemberState.LEAVING, shares=1),
        make_member(coop, users[4], MemberState.APPLIED),
        make_member(coop, users[5], MemberState.LEFT, shares=50),
        make_member(coop, users[6], MemberState.REJECTED),
    )
    register_ = await store.coops.members("kabulonga")
    expected = [users[1].id, users[2].id, users[0].id, users[3].id]  # shares, then who joined first
    assert [m.user_id for m in register_] == expected
    assert [m.phone for m in register_] == [users[1].phone, users[2].phone, users[0].phone, users[3].phone]
    assert [m.user_id for m in await store.coops.members("kabulonga", limit=2, offset=1)] == expected[1:3]
    assert await store.coops.members("kabulonga", offset=4) == []
    counts = await store.coops.count_members("kabulonga")
    assert counts == {
        "applied": 1,
        "admitted": 1,
        "full": 2,
        "leaving": 1,
        "left": 1,
        "removed": 0,
        "rejected": 1,
    }
    assert sum((await store.coops.count_members("nowhere")).values()) == 0


async def test_memberships_are_the_coops_a_user_belongs_to_now_by_name(store: Store) -> None:
    founder, mutale = await register(store, 1), await register(store, 2)
    coops = [make_coop(f"c{n}", founder, name=name) for n, name in enumerate(["Zeta", "Alpha", "Mu", "Beta"])]
    for coop in coops:
        await form(store, coop)
    await join(
        store,
        make_member(coops[0], mutale, MemberState.FULL),
        make_member(coops[1], mutale, MemberState.APPLIED),
        make_member(coops[2], mutale, MemberState.LEFT),
        make_member(coops[3], mutale, MemberState.LEAVING),
    )
    found = await store.coops.memberships(mutale.id)
    assert [(c.name, m.state) for c, m in found] == [
        ("Alpha", MemberState.APPLIED),
        ("Beta", MemberState.LEAVING),
        ("Zeta", MemberState.FULL),
    ]
    assert found[0] == (coops[1], make_member(coops[1], mutale, MemberState.APPLIED))
    assert await store.coops.memberships(founder.id) == []


async def test_members_due_a_refund_are_the_ended_notices_still_owed_money_oldest_first(store: Store) -> None:
    founder = await register(store, 1)
    coop, other = make_coop("kabulonga", founder), make_coop("mtendere", founder)
    await form(store, coop)
    await form(store, other)
    users = [await register(store, n) for n in range(2, 9)]
    owed = {"contributed_ngwee": 200_000, "refunded_ngwee": 50_000}
    await join(
        store,
        make_member(coop, users[0], MemberState.LEAVING, exit_at_us=T0 + 30, **owed),
        make_member(coop, users[1], MemberState.REMOVED, exit_at_us=T0 + 10, **owed),
        make_member(coop, users[2], MemberState.LEAVING, exit_at_us=T0 + 90, **owed),  # notice not over
        make_member(coop, users[3], MemberState.LEAVING, exit_at_us=T0 + 5, contributed_ngwee=9, refunded_ngwee=9),
        make_member(coop, users[4], MemberState.FULL, exit_at_us=T0, **owed),  # not leaving
        make_member(coop, users[5], MemberState.LEFT, exit_at_us=T0, **owed),  # refunded and gone
        make_member(other, users[6], MemberState.LEAVING, exit_at_us=T0, **owed),  # another co-op
        make_member(coop, users[6], MemberState.LEAVING, exit_at_us=T0 + 30, **owed),
    )
    due = await store.coops.members_due_refund("kabulonga", now_us=T0 + 60, limit=10)
    assert [m.user_id for m in due] == [users[1].id, users[0].id, users[6].id]
    assert due[0].phone == users[1].phone
    assert [m.user_id for m in await store.coops.members_due_refund("kabulonga", now_us=T0 + 60, limit=1)] == [
        users[1].id
    ]
    assert await store.coops.members_due_refund("kabulonga", now_us=T0 + 9, limit=10) == []


async def test_a_proposal_and_its_electorate_read_back_whole(store: Store) -> None:
    founder, mutale, chipo = await register(store, 1), await register(store, 2), await register(store, 3)
    coop = make_coop("kabulonga", founder)
    await form(store, coop)
    made = make_proposal(
        1,
        coop,
        mutale.id,
        kind=ProposalKind.CHANGE_BYLAW,
        payload={"bylaw": "pass_pct", "value": 66},
        supermajority=True,
        hide_results=True,
        tally=Tally(yes=20, no=5, abstain=1, voters=3),
        eta_us=T0 + 99,
        failure="treasury short",
        reminded=True,
    )
    await propose(store, made, [(founder.id, 30), (mutale.id, 20), (chipo.id, 10)])
    read = await store.coops.proposal_by_id("prop001")
    assert read == made
    assert read is not None
    assert (read.kind, read.state, read.supermajority) == (
        ProposalKind.CHANGE_BYLAW,
        ProposalState.ACTIVE,
        True,
    )
    assert read.payload == {"bylaw": "pass_pct", "value": 66}
    assert isinstance(read.payload["value"], int)
    read.payload["value"] = 1  # a read's payload is the caller's, never the store's
    assert (await store.coops.proposal_by_id("prop001")) == made
    assert await store.coops.proposal_by_id("nope") is None
    # The platform opens proposals too (proposer 0), with an empty payload.
    platform = make_proposal(2, coop, 0, kind=ProposalKind.ADMIT_MEMBER, payload={})
    await propose(store, platform, [])
    assert await store.coops.proposal_by_id("prop002") == platform
    assert await store.coops.electorate_weight("prop001", mutale.id) == 20
    assert await store.coops.electorate_weight("prop001", mutale.id + 99) is None
    assert await store.coops.electorate_weight("prop002", mutale.id) is None
    assert await store.coops.electorate("prop001") == sorted([founder.id, mutale.id, chipo.id])
    assert await store.coops.electorate("prop002") == []
    # The same id twice, or a voter twice, is refused.
    with pytest.raises(REFUSED):
        await propose(store, made, [])
    with pytest.raises(REFUSED):
        await propose(store, make_proposal(3, coop, mutale.id), [(chipo.id, 1), (chipo.id, 1)])
    with pytest.raises(REFUSED):
        await propose(store, make_proposal(4, coop, mutale.id + 99), [])


async def test_an_electorate_of_ten_thousand_is_stored_with_its_proposal(store: Store) -> None:
    founder = await register(store, 1)
    coop = make_coop("kabulonga", founder)
    await form(store, coop)
    voters = await register_many(store, 10_000)
    electorate = [(u.id, 1 + u.id % 7) for u in voters]
    await propose(store, make_proposal(1, coop, founder.id, electorate_size=10_000), electorate)
    assert await store.coops.electorate("prop001") == [u.id for u in voters]
    assert await store.coops.electorate_weight("prop001", voters[-1].id) == 1 + voters[-1].id % 7


async def test_a_proposal_changes_by_compare_and_set_on_its_version(store: Store) -> None:
    founder = await register(store, 1)
    coop = make_coop("kabulonga", founder)
    await form(store, coop)
    made = make_proposal(1, coop, founder.id)
    await propose(store, made, [(founder.id, 1)])
    queued = replace(
        made,
        state=ProposalState.QUEUED,
        tally=Tally(yes=1, voters=1),
        eta_us=T0 + 86_400 * S,
        reminded=True,
        payload={"price_ngwee_per_kwh": 135},
        electorate_weight=999,  # fixed when it was made: not written
    )

    async def update(changed: Proposal) -> bool:
        async def work(r: Repositories) -> bool:
            assert await r.coops.proposal_for_update(changed.id) is not None
            return await r.coops.update_proposal(changed)

        return await store.atomic(work)

    assert await update(queued)
    assert await store.coops.proposal_by_id("prop001") == replace(queued, electorate_weight=60, version=1)
    assert not await update(replace(queued, state=ProposalState.CANCELLED))  # stale: still at version 0
    executed = replace(queued, state=ProposalState.EXECUTED, executed_at_us=T0 + 5, failure="", version=1)
    assert await update(executed)
    assert await store.coops.proposal_by_id("prop001") == replace(executed, electorate_weight=60, version=2)
    assert await store.atomic(lambda r: r.coops.proposal_for_update("nope")) is None


async def test_proposals_are_listed_newest_first_open_ones_alone_and_counted_per_proposer(store: Store) -> None:
    founder, mutale = await register(store, 1), await register(store, 2)
    coop, other = make_coop("kabulonga", founder), make_coop("mtendere", founder)
    await form(store, coop)
    await form(store, other)
    states = [
        ProposalState.EXECUTED,
        ProposalState.PENDING,
        ProposalState.DEFEATED,
        ProposalState.QUEUED,
        ProposalState.ACTIVE,
        ProposalState.SUCCEEDED,
        ProposalState.CANCELLED,
    ]
    for n, state in enumerate(states, 1):
        await propose(store, make_proposal(n, coop, mutale.id if n % 2 else founder.id, state=state), [])
    await propose(store, make_proposal(8, other, mutale.id, state=ProposalState.ACTIVE), [])
    await propose(store, make_proposal(9, coop, 0, state=ProposalState.ACTIVE), [])
    newest = [p.id for p in await store.coops.proposals("kabulonga")]
    assert newest == ["prop009", "prop007", "prop006", "prop005", "prop004", "prop003", "prop002", "prop001"]
    assert [p.id for p in await store.coops.proposals("kabulonga", limit=3, offset=2)] == newest[2:5]
    open_ = [p.id for p in await store.coops.proposals("kabulonga", open_only=True)]
    assert open_ == ["prop009", "prop006", "prop005", "prop004", "prop002"]
    assert [p.id for p in await store.coops.proposals("kabulonga", open_only=True, limit=2, offset=1)] == open_[1:3]
    assert await store.coops.count_open_proposals("kabulonga", mutale.id) == 1  # 5 (3 is defeated, 1 and 7 closed)
    assert await store.coops.count_open_proposals("kabulonga", founder.id) == 3  # 2, 4 and 6
    assert await store.coops.count_open_proposals("kabulonga", 0) == 1  # the platform's
    assert await store.coops.count_open_proposals("mtendere", founder.id) == 0


async def test_a_vote_is_replaced_by_a_changed_one_and_who_has_not_voted_is_known(store: Store) -> None:
    founder, mutale, chipo = await register(store, 1), await register(store, 2), await register(store, 3)
    coop = make_coop("kabulonga", founder)
    await form(store, coop)
    await propose(store, make_proposal(1, coop, founder.id), [(founder.id, 3), (mutale.id, 2), (chipo.id, 1)])
    await propose(store, make_proposal(2, coop, founder.id), [(mutale.id, 1)])
    assert await store.coops.electorate("prop001", without_vote=True) == [founder.id, mutale.id, chipo.id]
    first = Vote("prop001", mutale.id, Choice.NO, 2, T0 + 10)
    await save_vote(store, first)
    assert await store.coops.vote("prop001", mutale.id) == first
    changed = Vote("prop001", mutale.id, Choice.YES, 2, T0 + 20, changes=1)
    await save_vote(store, changed)
    founders = Vote("prop001", founder.id, Choice.ABSTAIN, 3, T0 + 15)
    await save_vote(store, founders)
    assert await store.coops.vote("prop001", mutale.id) == changed
    read = await store.coops.vote("prop001", mutale.id)
    assert read is not None
    assert read.choice is Choice.YES
    assert await store.coops.votes("prop001") == [founders, changed]  # one each, by when cast
    assert await store.coops.votes("prop002") == []
    assert await store.coops.vote("prop002", mutale.id) is None
    assert await store.coops.electorate("prop001", without_vote=True) == [chipo.id]
    assert await store.coops.electorate("prop002", without_vote=True) == [mutale.id]
    bad_choice = Vote("prop001", chipo.id, 4, 1, T0)  # type: ignore[arg-type]
    for bad in [bad_choice, replace(first, proposal_id="nope"), replace(first, weight=-1)]:
        with pytest.raises(REFUSED):
            await save_vote(store, bad)


def chain(coop_id: str, count: int) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    head = (0, "")
    for n in range(count):
        kind = AuditKind.VOTED if n % 2 else AuditKind.PROPOSED
        entry = next_entry(
            coop_id, head, kind, at_us=T0 + n, actor_id=n % 3, proposal_id="prop001" if n else "", body={"n": n}
        )
        entries.append(entry)
        head = (entry.seq, entry.hash)
    return entries


async def test_the_governance_log_is_appended_in_order_and_reads_back_whole(store: Store) -> None:
    founder = await register(store, 1)
    coop = make_coop("kabulonga", founder)
    await form(store, coop)
    entries = chain("kabulonga", 5)

    async def append(r: Repositories) -> None:
        for entry in entries:
            await r.coops.append_audit(entry)
        await r.coops.update_coop(replace(coop, audit_seq=entries[-1].seq, audit_hash=entries[-1].hash))

    await store.atomic(append)
    read = await store.coops.audit_entries("kabulonga")
    assert read == entries
    assert read[0].prev_hash == GENESIS
    assert read[1].kind is AuditKind.VOTED
    assert read[1].body == {"n": 1}
    assert verify_chain("kabulonga", read, (5, entries[-1].hash)) is None
    assert await store.coops.audit_entries("kabulonga", after_seq=2, limit=2) == entries[2:4]
    assert await store.coops.audit_entries("nowhere") == []
    with pytest.raises(REFUSED):  # a sequence number is taken once
        await store.atomic(lambda r: r.coops.append_audit(entries[2]))
    with pytest.raises(REFUSED):
        await store.atomic(lambda r: r.coops.append_audit(chain("nowhere", 1)[0]))


async def test_the_governance_log_refuses_edits_and_deletions(store: Store, database_url: str) -> None:
    if store.backend == "memory":
        pytest.skip("no SQL to edit with: the in-memory log has no update or delete at all")
    founder = await register(store, 1)
    await form(store, make_coop("kabulonga", founder))
    entries = chain("kabulonga", 2)

    async def append(r: Repositories) -> None:
        for entry in entries:
            await r.coops.append_audit(entry)

    await store.atomic(append)
    for statement in [
        "UPDATE coop_audit SET body = '{\"n\": 9}' WHERE seq = 1",
        "DELETE FROM coop_audit WHERE seq = 2",
    ]:
        if database_url.startswith("sqlite:"):
            conn = sqlite3.connect(sqlite_path(database_url))
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(statement)
            conn.close()
        else:
            pg = await asyncpg.connect(database_url)
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await pg.execute(statement)
            await pg.close()
    assert await store.coops.audit_entries("kabulonga") == entries


async def test_two_writers_appending_to_one_log_take_turns_on_the_coop_lock(
    store: Store, open_test_store: StoreOpener
) -> None:
    founder = await register(store, 1)
    await form(store, make_coop("kabulonga", founder))
    other = await open_test_store()  # another process

    async def append_one(db: Store, actor: int) -> None:
        async def work(r: Repositories) -> None:
            coop = await r.coops.coop_for_update("kabulonga")
            assert coop is not None
            await asyncio.sleep(0.05)  # the other writer arrives while this one holds the lock
            entry = next_entry(coop.id, (coop.audit_seq, coop.audit_hash), AuditKind.JOINED, at_us=T0, actor_id=actor)
            await r.coops.append_audit(entry)
            await r.coops.update_coop(replace(coop, audit_seq=entry.seq, audit_hash=entry.hash))

        await db.atomic(work)

    await asyncio.gather(append_one(store, 1), append_one(other, 2))
    coop = await store.coops.coop_by_id("kabulonga")
    assert coop is not None
    assert coop.audit_seq == 2
    log = await store.coops.audit_entries("kabulonga")
    assert sorted(e.actor_id for e in log) == [1, 2]
    assert verify_chain("kabulonga", log, (coop.audit_seq, coop.audit_hash)) is None


async def test_the_catalog_is_upserted_and_assets_are_recorded_once(store: Store) -> None:
    founder = await register(store, 1)
    supplier, buyer = make_coop("ndola-supplies", founder), make_coop("kabulonga", founder)
    await form(store, replace(supplier, kind="supply"))
    await form(store, buyer)
    panel = CatalogItem("ndola-supplies", "panel-400w", "Panel 400 W", 250_000, capacity_wh=2_000)
    battery = CatalogItem("ndola-supplies", "battery-5kwh", "Battery 5 kWh", 900_000)
    for item in (panel, battery):
        await upsert_item(store, item)
    cheaper = replace(panel, price_ngwee=240_000, name="Panel 400 W (bulk)")
    await upsert_item(store, cheaper)
    assert await store.coops.catalog("ndola-supplies") == [battery, cheaper]  # by name
    assert await store.coops.catalog_item("ndola-supplies", "panel-400w") == cheaper
    assert await store.coops.catalog_item("ndola-supplies", "nope") is None
    assert await store.coops.catalog("kabulonga") == []
    with pytest.raises(REFUSED):
        await upsert_item(store, replace(panel, price_ngwee=0))

    bought = [
        Asset("kabulonga", "prop002", "panel-400w", "Panel 400 W", 4, 960_000, "ndola-supplies", T0 + 20),
        Asset("kabulonga", "prop001", "battery-5kwh", "Battery 5 kWh", 1, 900_000, "ndola-supplies", T0 + 10),
        Asset("kabulonga", "prop002", "battery-5kwh", "Battery 5 kWh", 1, 900_000, "ndola-supplies", T0 + 20),
    ]
    for asset in bought:
        await insert_asset(store, asset)
    assert await store.coops.assets("kabulonga") == [bought[1], bought[2], bought[0]]
    assert await store.coops.assets("ndola-supplies") == []
    with pytest.raises(REFUSED):  # one purchase recorded twice
        await insert_asset(store, bought[0])


async def test_a_unit_of_work_that_raises_leaves_no_coop_member_proposal_vote_or_entry(store: Store) -> None:
    founder, mutale = await register(store, 1), await register(store, 2)
    coop = make_coop("kabulonga", founder)
    await form(store, coop)
    await join(store, make_member(coop, founder))

    async def work(r: Repositories) -> None:
        assert await r.clusters.set_cluster_price("kabulonga", 999)
        founder_row = await r.coops.member_for_update("kabulonga", founder.id)
        assert founder_row is not None
        assert await r.coops.update_member(replace(founder_row, shares=9))
        assert await r.coops.insert_member(make_member(coop, mutale))
        await r.coops.insert_proposal(make_proposal(1, coop, founder.id), [(founder.id, 1)])
        await r.coops.save_vote(Vote("prop001", founder.id, Choice.YES, 1, T0))
        await r.coops.append_audit(chain("kabulonga", 1)[0])
        await r.coops.update_coop(replace(coop, state=CoopState.ACTIVE, audit_seq=1))
        assert await r.coops.proposal_by_id("prop001") is not None  # the transaction sees its own rows
        raise RuntimeError("the service failed after all of that")

    with pytest.raises(RuntimeError):
        await store.atomic(work)
    assert await store.coops.coop_by_id("kabulonga") == coop
    founder_row = await store.coops.member("kabulonga", founder.id)
    assert founder_row is not None
    assert (founder_row.shares, founder_row.version) == (0, 0)
    assert await store.coops.member("kabulonga", mutale.id) is None
    assert await store.coops.proposal_by_id("prop001") is None
    assert await store.coops.electorate("prop001") == []
    assert await store.coops.vote("prop001", founder.id) is None
    assert await store.coops.audit_entries("kabulonga") == []
    cluster = await store.clusters.cluster_by_id("kabulonga")
    assert cluster is not None
    assert cluster.price_ngwee_per_kwh == 120


async def test_a_clusters_price_is_set_by_id(store: Store) -> None:
    founder = await register(store, 1)
    await form(store, make_coop("kabulonga", founder))
    assert await store.atomic(lambda r: r.clusters.set_cluster_price("kabulonga", 135))
    cluster = await store.clusters.cluster_by_id("kabulonga")
    assert cluster is not None
    assert cluster.price_ngwee_per_kwh == 135
    assert not await store.atomic(lambda r: r.clusters.set_cluster_price("nowhere", 135))
    with pytest.raises(REFUSED):
        await store.atomic(lambda r: r.clusters.set_cluster_price("kabulonga", 0))
