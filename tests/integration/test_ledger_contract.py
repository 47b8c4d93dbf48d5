"""The ledger contract: the same tests against SQLite, PostgreSQL and the in-memory database."""

from __future__ import annotations

import pytest

from engine.kernel import errors
from engine.kernel.clock import ManualClock
from engine.ledger.model import (
    Account,
    AccountFlags,
    AccountKind,
    CreateAccountResult,
    CreateTransferResult,
    Ledger,
    PendingStatus,
    Transfer,
    TransferFlags,
)
from engine.ledger.ports import LedgerReader, LedgerWriter
from engine.ledger.verify import verify_ledger
from engine.uow import Database as Store
from tests.conftest import StoreOpener
from tests.integration.conftest import ALL_BACKENDS

R = CreateTransferResult
F = TransferFlags
WALLET = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS

pytestmark = ALL_BACKENDS


@pytest.fixture
async def ledger(store: Store) -> LedgerWriter:
    results = await store.ledger.create_accounts(
        [
            Account("world", Ledger.ZMW, AccountKind.ISSUANCE),
            Account("alice", Ledger.ZMW, AccountKind.USER_WALLET, owner="alice", flags=WALLET),
            Account("bob", Ledger.ZMW, AccountKind.USER_WALLET, owner="bob", flags=WALLET),
            Account("energy", Ledger.KWH, AccountKind.ISSUANCE),
            Account("capped", Ledger.ZMW, AccountKind.TEST, flags=AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS),
        ]
    )
    assert results == [CreateAccountResult.OK] * 5
    assert await store.ledger.create_transfers([Transfer("fund-alice", "world", "alice", 1000)]) == [R.OK]
    return store.ledger


async def balances(ledger: LedgerReader, *ids: str) -> list[tuple[int, int, int, int]]:
    accounts = await ledger.lookup_accounts(list(ids))
    return [
        (a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted) for a in (accounts[i] for i in ids)
    ]


async def test_accounts_are_idempotent_and_start_empty(ledger: LedgerWriter) -> None:
    again = await ledger.create_accounts(
        [
            Account("alice", Ledger.ZMW, AccountKind.USER_WALLET, owner="alice", flags=WALLET),
            Account("alice", Ledger.KWH, AccountKind.USER_WALLET, owner="alice", flags=WALLET),
            Account("", Ledger.ZMW, AccountKind.TEST),
            Account("both", Ledger.ZMW, AccountKind.TEST, flags=AccountFlags(3)),
            Account("fresh", Ledger.ZMW, AccountKind.TEST, credits_posted=10**6),
        ]
    )
    assert again == [
        CreateAccountResult.EXISTS,
        CreateAccountResult.EXISTS_WITH_DIFFERENT_FIELDS,
        CreateAccountResult.ID_MUST_NOT_BE_EMPTY,
        CreateAccountResult.FLAGS_ARE_MUTUALLY_EXCLUSIVE,
        CreateAccountResult.OK,
    ]
    assert await balances(ledger, "fresh") == [(0, 0, 0, 0)]  # balances come only from transfers


async def test_a_transfer_moves_posted_balances(ledger: LedgerWriter) -> None:
    assert await ledger.create_transfers([Transfer("t1", "alice", "bob", 300, code=10, reference="REF")]) == [R.OK]
    assert await balances(ledger, "alice", "bob") == [(0, 300, 0, 1000), (0, 0, 0, 300)]
    stored = (await ledger.lookup_transfers(["t1"]))["t1"]
    assert (stored.amount, stored.ledger, stored.code, stored.reference) == (300, Ledger.ZMW, 10, "REF")
    assert stored.seq == 2
    assert len(stored.hash) == 64


@pytest.mark.parametrize(
    ("transfer", "result"),
    [
        (Transfer("x", "alice", "bob", 1001), R.EXCEEDS_CREDITS),
        (Transfer("x", "world", "capped", 1), R.EXCEEDS_DEBITS),
        (Transfer("x", "alice", "bob", 0), R.AMOUNT_MUST_BE_POSITIVE),
        (Transfer("x", "alice", "bob", -1), R.AMOUNT_MUST_BE_POSITIVE),
        (Transfer("x", "alice", "alice", 1), R.ACCOUNTS_MUST_BE_DIFFERENT),
        (Transfer("x", "ghost", "bob", 1), R.DEBIT_ACCOUNT_NOT_FOUND),
        (Transfer("x", "alice", "ghost", 1), R.CREDIT_ACCOUNT_NOT_FOUND),
        (Transfer("x", "alice", "energy", 1), R.ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER),
        (Transfer("x", "alice", "bob", 1, ledger=Ledger.KWH), R.TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS),
        (Transfer("", "alice", "bob", 1), R.ID_MUST_NOT_BE_EMPTY),
        (Transfer("x" * 129, "alice", "bob", 1), R.ID_TOO_LONG),
        (Transfer("x", "alice", "bob", 1, timeout_s=5), R.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER),
        (Transfer("x", "alice", "bob", 1, flags=F.PENDING | F.POST_PENDING), R.FLAGS_ARE_MUTUALLY_EXCLUSIVE),
        (Transfer("x", "alice", "bob", 1, flags=F.EXPIRE_PENDING), R.RESERVED_FLAG),
        (Transfer("x", "alice", "bob", 1, pending_id="p"), R.PENDING_ID_MUST_BE_EMPTY),
        (Transfer("x", flags=F.POST_PENDING), R.PENDING_ID_REQUIRED),
        (Transfer("x", flags=F.POST_PENDING, pending_id="nope"), R.PENDING_TRANSFER_NOT_FOUND),
        (Transfer("x", flags=F.VOID_PENDING, pending_id="fund-alice"), R.PENDING_TRANSFER_NOT_PENDING),
    ],
)
async def test_refused_transfers_change_nothing(ledger: LedgerWriter, transfer: Transfer, result: R) -> None:
    head = await ledger.chain_head()
    before = await ledger.list_accounts()
    assert await ledger.create_transfers([transfer]) == [result]
    assert await ledger.chain_head() == head
    assert await ledger.list_accounts() == before


async def test_same_id_same_fields_is_exists_and_applies_once(ledger: LedgerWriter) -> None:
    t = Transfer("pay-1", "alice", "bob", 100, reference="AAA")
    assert await ledger.create_transfers([t]) == [R.OK]
    assert await ledger.create_transfers([t]) == [R.EXISTS]
    assert await ledger.create_transfers([t, t]) == [R.EXISTS, R.EXISTS]
    assert await ledger.create_transfers([Transfer("pay-1", "alice", "bob", 101, reference="AAA")]) == [
        R.EXISTS_WITH_DIFFERENT_FIELDS
    ]
    assert await balances(ledger, "bob") == [(0, 0, 0, 100)]


async def test_duplicate_id_inside_one_batch(ledger: LedgerWriter) -> None:
    results = await ledger.create_transfers(
        [Transfer("d", "alice", "bob", 5), Transfer("d", "alice", "bob", 5), Transfer("d", "alice", "bob", 6)]
    )
    assert results == [R.OK, R.EXISTS, R.EXISTS_WITH_DIFFERENT_FIELDS]
    assert await balances(ledger, "bob") == [(0, 0, 0, 5)]


async def test_pending_reserves_then_posts_in_part_releasing_the_rest(ledger: LedgerWriter) -> None:
    assert await ledger.create_transfers([Transfer("hold", "alice", "bob", 600, flags=F.PENDING)]) == [R.OK]
    assert await balances(ledger, "alice", "bob") == [(600, 0, 0, 1000), (0, 0, 600, 0)]
    # The reservation counts against what Alice can spend.
    assert await ledger.create_transfers([Transfer("too-much", "alice", "bob", 401)]) == [R.EXCEEDS_CREDITS]
    post = Transfer("post", flags=F.POST_PENDING, pending_id="hold", amount=250)
    assert await ledger.create_transfers([post]) == [R.OK]
    assert await balances(ledger, "alice", "bob") == [(0, 250, 0, 1000), (0, 0, 0, 250)]
    assert await ledger.pending_statuses(["hold"]) == {"hold": PendingStatus.POSTED}
    assert await ledger.create_transfers([Transfer("post2", flags=F.POST_PENDING, pending_id="hold")]) == [
        R.PENDING_TRANSFER_ALREADY_POSTED
    ]
    assert await ledger.create_transfers([Transfer("void", flags=F.VOID_PENDING, pending_id="hold")]) == [
        R.PENDING_TRANSFER_ALREADY_POSTED
    ]
    assert await ledger.create_transfers([post]) == [R.EXISTS]


async def test_post_with_amount_zero_posts_everything(ledger: LedgerWriter) -> None:
    await ledger.create_transfers([Transfer("hold", "alice", "bob", 600, flags=F.PENDING)])
    assert await ledger.create_transfers([Transfer("post", flags=F.POST_PENDING, pending_id="hold")]) == [R.OK]
    assert await balances(ledger, "bob") == [(0, 0, 0, 600)]


async def test_post_more_than_reserved_and_mismatched_accounts_are_refused(ledger: LedgerWriter) -> None:
    await ledger.create_transfers([Transfer("hold", "alice", "bob", 600, flags=F.PENDING)])
    assert await ledger.create_transfers([Transfer("p", flags=F.POST_PENDING, pending_id="hold", amount=601)]) == [
        R.EXCEEDS_PENDING_TRANSFER_AMOUNT
    ]
    assert await ledger.create_transfers([Transfer("p", "world", "bob", flags=F.POST_PENDING, pending_id="hold")]) == [
        R.PENDING_TRANSFER_HAS_DIFFERENT_ACCOUNTS
    ]
    assert await ledger.create_transfers([Transfer("v", flags=F.VOID_PENDING, pending_id="hold", amount=5)]) == [
        R.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT
    ]


async def test_void_releases_the_reservation(ledger: LedgerWriter) -> None:
    await ledger.create_transfers([Transfer("hold", "alice", "bob", 600, flags=F.PENDING)])
    assert await ledger.create_transfers([Transfer("void", flags=F.VOID_PENDING, pending_id="hold")]) == [R.OK]
    assert await balances(ledger, "alice", "bob") == [(0, 0, 0, 1000), (0, 0, 0, 0)]
    assert await ledger.create_transfers([Transfer("post", flags=F.POST_PENDING, pending_id="hold")]) == [
        R.PENDING_TRANSFER_ALREADY_VOIDED
    ]


async def test_timeout_releases_the_reservation(ledger: LedgerWriter, clock: ManualClock) -> None:
    await ledger.create_transfers([Transfer("hold", "alice", "bob", 600, flags=F.PENDING, timeout_s=60)])
    clock.advance(59)
    assert await ledger.expire_pending_transfers() == 0
    clock.advance(1)
    # Past the deadline a post is refused even before the sweep has run...
    assert await ledger.create_transfers([Transfer("late", flags=F.POST_PENDING, pending_id="hold")]) == [
        R.PENDING_TRANSFER_EXPIRED
    ]
    # ...and the sweep gives the money back, recorded in the chain.
    assert await ledger.expire_pending_transfers() == 1
    assert await ledger.expire_pending_transfers() == 0
    assert await balances(ledger, "alice", "bob") == [(0, 0, 0, 1000), (0, 0, 0, 0)]
    assert await ledger.pending_statuses(["hold"]) == {"hold": PendingStatus.EXPIRED}
    assert "expire:hold" in await ledger.lookup_transfers(["expire:hold"])
    assert (await verify_ledger(ledger)).ok


async def test_pending_and_post_in_one_batch(ledger: LedgerWriter) -> None:
    results = await ledger.create_transfers(
        [
            Transfer("hold", "alice", "bob", 100, flags=F.PENDING | F.LINKED),
            Transfer("post", flags=F.POST_PENDING, pending_id="hold"),
        ]
    )
    assert results == [R.OK, R.OK]
    assert await balances(ledger, "bob") == [(0, 0, 0, 100)]
    assert await ledger.pending_statuses(["hold"]) == {"hold": PendingStatus.POSTED}


async def test_linked_batch_is_all_or_nothing(ledger: LedgerWriter) -> None:
    head = await ledger.chain_head()
    results = await ledger.create_transfers(
        [
            Transfer("a", "alice", "bob", 400, flags=F.LINKED),
            Transfer("b", "alice", "bob", 400, flags=F.LINKED),
            Transfer("c", "alice", "bob", 400),  # 1200 > 1000: the whole chain fails
        ]
    )
    assert results == [R.LINKED_EVENT_FAILED, R.LINKED_EVENT_FAILED, R.EXCEEDS_CREDITS]
    assert await ledger.chain_head() == head
    assert await balances(ledger, "alice") == [(0, 0, 0, 1000)]


async def test_independent_items_each_get_their_own_result(ledger: LedgerWriter) -> None:
    results = await ledger.create_transfers(
        [
            Transfer("a", "alice", "bob", 400),
            Transfer("b", "alice", "bob", 700),
            Transfer("c", "alice", "bob", 600),
            Transfer("d", "alice", "bob", 0),
        ]
    )
    assert results == [R.OK, R.EXCEEDS_CREDITS, R.OK, R.AMOUNT_MUST_BE_POSITIVE]
    assert await balances(ledger, "bob") == [(0, 0, 0, 1000)]


async def test_chains_and_singles_mix_and_an_open_chain_fails(ledger: LedgerWriter) -> None:
    results = await ledger.create_transfers(
        [
            Transfer("s1", "alice", "bob", 10),
            Transfer("l1", "alice", "bob", 5000, flags=F.LINKED),
            Transfer("l2", "alice", "bob", 10),
            Transfer("s2", "alice", "bob", 10),
            Transfer("open", "alice", "bob", 10, flags=F.LINKED),
        ]
    )
    assert results == [R.OK, R.EXCEEDS_CREDITS, R.LINKED_EVENT_FAILED, R.OK, R.LINKED_EVENT_CHAIN_OPEN]
    assert await balances(ledger, "bob") == [(0, 0, 0, 20)]


async def test_batches_over_the_configured_size_are_refused(ledger: LedgerWriter) -> None:
    too_many = [Transfer(f"t{i}", "world", "bob", 1) for i in range(1001)]
    with pytest.raises(errors.BatchTooLarge):
        await ledger.create_transfers(too_many)
    assert await ledger.create_transfers(too_many[:1000]) == [R.OK] * 1000


async def test_history_and_sums(ledger: LedgerWriter) -> None:
    for i in range(7):
        await ledger.create_transfers([Transfer(f"h{i}", "alice", "bob", 10 + i, code=10)])
    page = await ledger.account_transfers(["bob"], limit=3)
    assert [t.id for t in page] == ["h6", "h5", "h4"]
    rest = await ledger.account_transfers(["bob"], limit=10, before_seq=page[-1].seq)
    assert [t.id for t in rest] == ["h3", "h2", "h1", "h0"]
    both = await ledger.account_transfers(["alice", "bob"], limit=100)
    assert len(both) == 8  # each transfer once, even though it touches both accounts
    assert await ledger.sum_transfers(codes=[10]) == sum(10 + i for i in range(7))
    assert await ledger.sum_transfers(codes=[10], credit_account_id="alice") == 0
    assert await ledger.sum_transfers(codes=[0], credit_account_id="alice") == 1000


async def test_sums_count_settled_movement_only(ledger: LedgerWriter, clock: ManualClock) -> None:
    await ledger.create_transfers(
        [
            Transfer("hold", "alice", "bob", 600, code=10, flags=F.PENDING),
            Transfer("drop", "alice", "bob", 100, code=10, flags=F.PENDING),
            Transfer("lapse", "alice", "bob", 50, code=10, flags=F.PENDING, timeout_s=60),
        ]
    )
    assert await ledger.sum_transfers(codes=[10]) == 0, "a reservation moves nothing yet"
    posted = await ledger.create_transfers(
        [
            Transfer("post", flags=F.POST_PENDING, pending_id="hold", amount=250, code=10),
            Transfer("void", flags=F.VOID_PENDING, pending_id="drop", code=10),
        ]
    )
    assert posted == [R.OK, R.OK]
    clock.advance(60)
    assert await ledger.expire_pending_transfers() == 1
    await ledger.create_transfers([Transfer("plain", "alice", "bob", 7, code=10)])

    # The post counts the amount posted, on the reservation's accounts (its request named none).
    assert await ledger.sum_transfers(codes=[10]) == 257
    assert await ledger.sum_transfers(codes=[10], credit_account_id="bob") == 257
    assert await ledger.sum_transfers(codes=[10], debit_account_id="alice") == 257
    assert await ledger.sum_transfers(codes=[10], debit_account_id="bob") == 0
    assert await ledger.sum_transfers(codes=[10, 90]) == 257, "an expiry (code 90) moves nothing either"
    assert await balances(ledger, "bob") == [(0, 0, 0, 257)], "the sum is what bob's balance says"


async def test_state_survives_reopening(ledger: LedgerWriter, store: Store, open_test_store: StoreOpener) -> None:
    await ledger.create_transfers([Transfer("p", "alice", "bob", 100, flags=F.PENDING, timeout_s=30)])
    await store.close()  # the database the ledger fixture is on
    reopened = await open_test_store()
    assert await balances(reopened.ledger, "alice") == [(100, 0, 0, 1000)]
    assert await reopened.ledger.create_transfers([Transfer("post", flags=F.POST_PENDING, pending_id="p")]) == [R.OK]
    assert (await verify_ledger(reopened.ledger)).ok


async def test_an_operations_transfers_are_found_by_its_reference(ledger: LedgerWriter) -> None:
    await ledger.create_transfers(
        [Transfer("x1", "alice", "bob", 10, reference="K7M3"), Transfer("y", "alice", "bob", 1)]
    )
    await ledger.create_transfers([Transfer("x2", "bob", "alice", 4, reference="K7M3")])
    assert [t.id for t in await ledger.transfers_with_reference("K7M3")] == ["x1", "x2"]
    assert await ledger.transfers_with_reference("NONE") == []
