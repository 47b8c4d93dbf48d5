"""Unit tests for engine.ledger.rules: TigerBeetle-style transfer rules over account snapshots."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ledger.model import (
    Account,
    AccountFlags,
    AccountKind,
    CreateTransferResult,
    Ledger,
    PendingState,
    PendingStatus,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferRecord,
)
from engine.ledger.rules import (
    MAX_AMOUNT,
    MAX_ID_LENGTH,
    BatchOutcome,
    apply_transfers,
    balance_deltas,
    expire_pendings,
    expiry_id,
)

R = CreateTransferResult
ZMW, KWH = Ledger.ZMW, Ledger.KWH
NO_OVERDRAFT = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
NO_EXCESS_CREDIT = AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
LINKED = TransferFlags.LINKED
PENDING = TransferFlags.PENDING
POST = TransferFlags.POST_PENDING
VOID = TransferFlags.VOID_PENDING

SECOND = 1_000_000  # the ledger's clock is in microseconds
NOW = 1_700_000_000 * SECOND
ALICE_FUNDS = 1000


# --- helpers -----------------------------------------------------------------


def wallet(account_id: str, balance: int = 0, *, ledger: Ledger = ZMW) -> Account:
    """A user wallet: may never spend more than it holds."""
    return Account(
        account_id, ledger, AccountKind.USER_WALLET, owner=account_id, flags=NO_OVERDRAFT, credits_posted=balance
    )


def system(
    account_id: str,
    *,
    ledger: Ledger = ZMW,
    kind: AccountKind = AccountKind.ISSUANCE,
    flags: AccountFlags = AccountFlags.NONE,
    debits_posted: int = 0,
) -> Account:
    """A system account; unflagged ones may go negative, like TigerBeetle's @world."""
    return Account(account_id, ledger, kind, flags=flags, debits_posted=debits_posted)


def transfer(transfer_id: str, debit: str, credit: str, amount: int, **fields: Any) -> Transfer:
    return Transfer(transfer_id, debit, credit, amount, **fields)


def pending(transfer_id: str, debit: str, credit: str, amount: int, *, timeout_s: int = 0) -> Transfer:
    return Transfer(transfer_id, debit, credit, amount, flags=PENDING, timeout_s=timeout_s)


def post(transfer_id: str, pending_id: str, amount: int = 0, **fields: Any) -> Transfer:
    return Transfer(transfer_id, amount=amount, flags=POST, pending_id=pending_id, **fields)


def void(transfer_id: str, pending_id: str, amount: int = 0, **fields: Any) -> Transfer:
    return Transfer(transfer_id, amount=amount, flags=VOID, pending_id=pending_id, **fields)


def linked(t: Transfer) -> Transfer:
    return replace(t, flags=t.flags | LINKED)


def counters(account: Account) -> tuple[int, int, int, int]:
    """(debits_pending, debits_posted, credits_pending, credits_posted)."""
    return account.debits_pending, account.debits_posted, account.credits_pending, account.credits_posted


@dataclass
class Book:
    """A minimal in-memory stand-in for a storage adapter: apply, then persist the outcome."""

    accounts: dict[str, Account]
    existing: dict[str, TransferRecord] = field(default_factory=dict)
    pendings: dict[str, PendingState] = field(default_factory=dict)

    @classmethod
    def of(cls, *accounts: Account) -> Book:
        return cls({a.id: a for a in accounts})

    def apply(self, *transfers: Transfer, now_us: int = NOW) -> BatchOutcome:
        """Run the rules without persisting anything."""
        return apply_transfers(
            transfers, accounts=self.accounts, existing=self.existing, pendings=self.pendings, now_us=now_us
        )

    def submit(self, *transfers: Transfer, now_us: int = NOW) -> BatchOutcome:
        outcome = self.apply(*transfers, now_us=now_us)
        self.commit(outcome)
        return outcome

    def expire(self, now_us: int, due: Iterable[PendingState] | None = None) -> BatchOutcome:
        outcome = expire_pendings(
            list(self.pendings.values()) if due is None else due, accounts=self.accounts, now_us=now_us
        )
        self.commit(outcome)
        return outcome

    def commit(self, outcome: BatchOutcome) -> None:
        self.accounts.update(outcome.accounts)
        for record in outcome.records:
            self.existing[record.id] = record
        for pending_id, status in outcome.pending_status.items():
            self.pendings[pending_id] = PendingState(self.existing[pending_id], status)

    def __getitem__(self, account_id: str) -> Account:
        return self.accounts[account_id]


@pytest.fixture
def book() -> Book:
    """Alice holds K10.00 (issued by an unflagged issuance account); Bob and Carol hold nothing."""
    return Book.of(
        system("issuer", debits_posted=ALICE_FUNDS),
        wallet("alice", ALICE_FUNDS),
        wallet("bob"),
        wallet("carol"),
        system("kwh_pool", ledger=KWH, kind=AccountKind.CLUSTER_POOL),
        wallet("alice_kwh", ledger=KWH),
    )


def assert_nothing_changed(outcome: BatchOutcome) -> None:
    assert outcome.records == []
    assert outcome.accounts == {}
    assert outcome.pending_status == {}


# --- simple transfers ------------------------------------------------------------


def test_transfer_moves_posted_counters_of_both_accounts(book: Book) -> None:
    outcome = book.apply(transfer("t1", "alice", "bob", 250))

    assert outcome.results == [R.OK]
    assert counters(outcome.accounts["alice"]) == (0, 250, 0, ALICE_FUNDS)
    assert counters(outcome.accounts["bob"]) == (0, 0, 0, 250)
    assert outcome.accounts["alice"].balance == ALICE_FUNDS - 250
    assert outcome.accounts["bob"].balance == 250


def test_transfer_outcome_lists_only_the_accounts_it_changed(book: Book) -> None:
    outcome = book.apply(transfer("t1", "alice", "bob", 250))

    assert set(outcome.accounts) == {"alice", "bob"}
    assert outcome.pending_status == {}


def test_transfer_record_carries_resolved_fields_and_the_batch_timestamp(book: Book) -> None:
    outcome = book.apply(transfer("t1", "alice", "bob", 250, code=TransferCode.MONEY_TRANSFER, reference="EL-1"))

    [record] = outcome.records
    assert (record.id, record.debit_account_id, record.credit_account_id, record.amount) == ("t1", "alice", "bob", 250)
    assert record.ledger is ZMW  # taken from the accounts when the request leaves it empty
    assert record.code == TransferCode.MONEY_TRANSFER
    assert record.flags == TransferFlags.NONE
    assert record.reference == "EL-1"
    assert record.timestamp == NOW
    assert record.pending_id is None


def test_apply_transfers_does_not_mutate_its_inputs(book: Book) -> None:
    book.submit(pending("p1", "alice", "bob", 100))
    accounts, existing, pendings = dict(book.accounts), dict(book.existing), dict(book.pendings)

    book.apply(transfer("t1", "alice", "bob", 250), post("t2", "p1"), pending("p2", "alice", "carol", 50))

    assert book.accounts == accounts
    assert book.existing == existing
    assert book.pendings == pendings


def test_wallet_may_spend_exactly_its_balance(book: Book) -> None:
    outcome = book.apply(transfer("t1", "alice", "bob", ALICE_FUNDS))

    assert outcome.results == [R.OK]
    assert outcome.accounts["alice"].balance == 0


def test_debits_must_not_exceed_credits_refuses_an_overdraft_and_changes_nothing(book: Book) -> None:
    outcome = book.apply(transfer("t1", "alice", "bob", ALICE_FUNDS + 1))

    assert outcome.results == [R.EXCEEDS_CREDITS]
    assert_nothing_changed(outcome)


def test_overdraft_check_counts_reserved_pending_debits(book: Book) -> None:
    book.submit(pending("p1", "alice", "carol", 700))

    assert book.apply(transfer("t1", "alice", "bob", 301)).results == [R.EXCEEDS_CREDITS]
    assert book.apply(transfer("t1", "alice", "bob", 300)).results == [R.OK]


def test_overdraft_check_ignores_credits_that_are_still_pending(book: Book) -> None:
    book.submit(pending("p1", "alice", "bob", 500))

    assert book["bob"].credits_pending == 500
    assert book.apply(transfer("t1", "bob", "carol", 1)).results == [R.EXCEEDS_CREDITS]


def test_unflagged_system_account_may_go_negative(book: Book) -> None:
    outcome = book.apply(transfer("t1", "issuer", "bob", 5_000))

    assert outcome.results == [R.OK]
    assert outcome.accounts["issuer"].balance == -(ALICE_FUNDS + 5_000)


def test_credits_must_not_exceed_debits_refuses_with_exceeds_debits() -> None:
    clearing = system("clearing", kind=AccountKind.MOBILE_MONEY_CLEARING, flags=NO_EXCESS_CREDIT, debits_posted=300)
    book = Book.of(clearing, wallet("alice", 1000))

    outcome = book.apply(transfer("w1", "alice", "clearing", 301))

    assert outcome.results == [R.EXCEEDS_DEBITS]
    assert_nothing_changed(outcome)


def test_credits_must_not_exceed_debits_allows_credits_up_to_debits() -> None:
    clearing = system("clearing", kind=AccountKind.MOBILE_MONEY_CLEARING, flags=NO_EXCESS_CREDIT, debits_posted=300)
    book = Book.of(clearing, wallet("alice", 1000))

    outcome = book.apply(transfer("w1", "alice", "clearing", 300))

    assert outcome.results == [R.OK]
    assert outcome.accounts["clearing"].credits_posted == 300


def test_credits_must_not_exceed_debits_counts_pending_credits() -> None:
    clearing = system("clearing", kind=AccountKind.MOBILE_MONEY_CLEARING, flags=NO_EXCESS_CREDIT, debits_posted=300)
    book = Book.of(clearing, wallet("alice", 1000))
    book.submit(pending("p1", "alice", "clearing", 200))

    assert book.apply(transfer("w1", "alice", "clearing", 101)).results == [R.EXCEEDS_DEBITS]
    assert book.apply(transfer("w1", "alice", "clearing", 100)).results == [R.OK]


def test_amount_at_the_maximum_is_accepted(book: Book) -> None:
    assert book.apply(transfer("t1", "issuer", "bob", MAX_AMOUNT[ZMW])).results == [R.OK]


def test_id_at_the_maximum_length_is_accepted(book: Book) -> None:
    assert book.apply(transfer("x" * MAX_ID_LENGTH, "alice", "bob", 1)).results == [R.OK]


def test_explicit_ledger_matching_the_accounts_is_accepted(book: Book) -> None:
    assert book.apply(transfer("t1", "alice", "bob", 1, ledger=ZMW)).results == [R.OK]


@pytest.mark.parametrize(
    ("request_", "result"),
    [
        pytest.param(transfer("t1", "alice", "bob", 0), R.AMOUNT_MUST_BE_POSITIVE, id="zero-amount"),
        pytest.param(transfer("t1", "alice", "bob", -5), R.AMOUNT_MUST_BE_POSITIVE, id="negative-amount"),
        pytest.param(transfer("t1", "issuer", "bob", MAX_AMOUNT[ZMW] + 1), R.AMOUNT_TOO_LARGE, id="amount-too-large"),
        pytest.param(transfer("t1", "alice", "alice", 10), R.ACCOUNTS_MUST_BE_DIFFERENT, id="same-account"),
        pytest.param(transfer("t1", "ghost", "bob", 10), R.DEBIT_ACCOUNT_NOT_FOUND, id="unknown-debit"),
        pytest.param(transfer("t1", "alice", "ghost", 10), R.CREDIT_ACCOUNT_NOT_FOUND, id="unknown-credit"),
        pytest.param(transfer("t1", "alice", "alice_kwh", 10), R.ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER, id="zmw-to-kwh"),
        pytest.param(transfer("t1", "kwh_pool", "bob", 10), R.ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER, id="kwh-to-zmw"),
        pytest.param(
            transfer("t1", "alice", "bob", 10, ledger=KWH),
            R.TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS,
            id="transfer-ledger-differs",
        ),
        pytest.param(transfer("", "alice", "bob", 10), R.ID_MUST_NOT_BE_EMPTY, id="empty-id"),
        pytest.param(transfer("x" * (MAX_ID_LENGTH + 1), "alice", "bob", 10), R.ID_TOO_LONG, id="id-too-long"),
        pytest.param(
            transfer("t1", "alice", "bob", 10, pending_id="p0"), R.PENDING_ID_MUST_BE_EMPTY, id="pending-id-on-plain"
        ),
        pytest.param(
            transfer("t1", "alice", "bob", 10, flags=TransferFlags.EXPIRE_PENDING),
            R.RESERVED_FLAG,
            id="expire-flag-is-reserved",
        ),
        pytest.param(
            transfer("t1", "alice", "bob", 10, flags=PENDING | POST),
            R.FLAGS_ARE_MUTUALLY_EXCLUSIVE,
            id="pending-and-post",
        ),
        pytest.param(
            transfer("t1", "alice", "bob", 10, flags=POST | VOID, pending_id="p0"),
            R.FLAGS_ARE_MUTUALLY_EXCLUSIVE,
            id="post-and-void",
        ),
        pytest.param(
            transfer("t1", "alice", "bob", 10, timeout_s=30),
            R.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER,
            id="timeout-on-plain",
        ),
        pytest.param(
            transfer("t1", "alice", "bob", 10, flags=PENDING, timeout_s=-1),
            R.TIMEOUT_MUST_NOT_BE_NEGATIVE,
            id="negative-timeout",
        ),
    ],
)
def test_invalid_transfer_is_refused_with_its_code_and_changes_nothing(
    book: Book, request_: Transfer, result: CreateTransferResult
) -> None:
    outcome = book.apply(request_)

    assert outcome.results == [result]
    assert not result.applied
    assert_nothing_changed(outcome)


# --- idempotency -------------------------------------------------------------------


def test_resubmitting_the_same_transfer_returns_exists_and_records_nothing(book: Book) -> None:
    original = transfer("t1", "alice", "bob", 250, code=TransferCode.MONEY_TRANSFER, reference="EL-1")
    book.submit(original)

    outcome = book.apply(original)

    assert outcome.results == [R.EXISTS]
    assert R.EXISTS.applied
    assert_nothing_changed(outcome)


def test_resubmitting_returns_exists_even_when_a_new_transfer_would_now_be_refused(book: Book) -> None:
    spend_all = transfer("t1", "alice", "bob", ALICE_FUNDS)
    book.submit(spend_all)

    assert book.apply(spend_all).results == [R.EXISTS]


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"amount": 251}, id="amount"),
        pytest.param({"credit_account_id": "carol"}, id="credit-account"),
        pytest.param({"debit_account_id": "issuer"}, id="debit-account"),
        pytest.param({"reference": "EL-2"}, id="reference"),
        pytest.param({"code": TransferCode.GENERIC}, id="code"),
        pytest.param({"ledger": ZMW}, id="ledger-now-explicit"),
        pytest.param({"flags": PENDING}, id="flags"),
    ],
)
def test_resubmitting_an_id_with_different_fields_is_refused(book: Book, changes: dict[str, Any]) -> None:
    original = transfer("t1", "alice", "bob", 250, code=TransferCode.MONEY_TRANSFER, reference="EL-1")
    book.submit(original)

    outcome = book.apply(replace(original, **changes))

    assert outcome.results == [R.EXISTS_WITH_DIFFERENT_FIELDS]
    assert not R.EXISTS_WITH_DIFFERENT_FIELDS.applied
    assert_nothing_changed(outcome)


def test_duplicate_id_within_one_batch_applies_once(book: Book) -> None:
    t1 = transfer("t1", "alice", "bob", 250)

    outcome = book.apply(t1, t1)

    assert outcome.results == [R.OK, R.EXISTS]
    assert [r.id for r in outcome.records] == ["t1"]
    assert outcome.accounts["bob"].credits_posted == 250


def test_duplicate_id_within_one_batch_with_different_fields_is_refused(book: Book) -> None:
    outcome = book.apply(transfer("t1", "alice", "bob", 250), transfer("t1", "alice", "bob", 300))

    assert outcome.results == [R.OK, R.EXISTS_WITH_DIFFERENT_FIELDS]
    assert len(outcome.records) == 1
    assert outcome.accounts["bob"].credits_posted == 250


def test_a_refused_transfer_is_not_remembered_so_its_id_can_be_retried(book: Book) -> None:
    too_much = transfer("t1", "alice", "bob", 1500)
    assert book.submit(too_much).results == [R.EXCEEDS_CREDITS]
    book.submit(transfer("top-up", "issuer", "alice", 500))

    assert book.submit(too_much).results == [R.OK]
    assert book["bob"].balance == 1500


def test_retried_post_that_omitted_accounts_and_amount_returns_exists(book: Book) -> None:
    book.submit(pending("p1", "alice", "bob", 400))
    book.submit(post("c1", "p1"))

    outcome = book.apply(post("c1", "p1"))

    assert outcome.results == [R.EXISTS]
    assert_nothing_changed(outcome)


def test_retried_pending_returns_exists_after_it_was_posted(book: Book) -> None:
    reserve = pending("p1", "alice", "bob", 400)
    book.submit(reserve)
    book.submit(post("c1", "p1"))

    assert book.apply(reserve).results == [R.EXISTS]


# --- two-phase transfers ---------------------------------------------------------------


def test_pending_transfer_reserves_without_posting(book: Book) -> None:
    outcome = book.apply(pending("p1", "alice", "bob", 400))

    assert outcome.results == [R.OK]
    assert counters(outcome.accounts["alice"]) == (400, 0, 0, ALICE_FUNDS)
    assert counters(outcome.accounts["bob"]) == (0, 0, 400, 0)
    assert outcome.accounts["alice"].balance == ALICE_FUNDS
    assert outcome.accounts["alice"].available == ALICE_FUNDS - 400
    assert outcome.pending_status == {"p1": PendingStatus.PENDING}


def test_pending_transfer_is_refused_beyond_the_available_balance(book: Book) -> None:
    outcome = book.apply(pending("p1", "alice", "bob", ALICE_FUNDS + 1))

    assert outcome.results == [R.EXCEEDS_CREDITS]
    assert_nothing_changed(outcome)


def test_posting_with_amount_zero_posts_the_whole_pending_amount(book: Book) -> None:
    book.submit(pending("p1", "alice", "bob", 400, timeout_s=60))

    outcome = book.apply(post("c1", "p1"))

    assert outcome.results == [R.OK]
    assert counters(outcome.accounts["alice"]) == (0, 400, 0, ALICE_FUNDS)
    assert counters(outcome.accounts["bob"]) == (0, 0, 0, 400)
    assert outcome.pending_status == {"p1": PendingStatus.POSTED}


def test_post_record_resolves_accounts_amount_and_ledger_from_the_pending(book: Book) -> None:
    book.submit(pending("p1", "alice", "bob", 400))

    [record] = book.apply(post("c1", "p1")).records

    assert (record.debit_account_id, record.credit_account_id, record.amount, record.ledger) == (
        "alice",
        "bob",
        400,
        ZMW,
    )
    assert record.pending_id == "p1"
    assert record.flags == POST
    assert (record.request_debit_account_id, record.request_credit_account_id, record.request_amount) == ("", "", 0)


def test_partial_post_moves_the_part_and_releases_the_remainder(book: Book) -> None:
    book.submit(pending("p1", "alice", "bob", 400))

    outcome = book.apply(post("c1", "p1", amount=150))

    assert outcome.results == [R.OK]
    assert outcome.records[0].amount == 150
    assert counters(outcome.accounts["alice"]) == (0, 150, 0, ALICE_FUNDS)
    assert counters(outcome.accounts["bob"]) == (0, 0, 0, 150)
    assert outcome.accounts["alice"].available == ALICE_FUNDS - 150
    assert outcome.pending_status == {"p1": PendingStatus.POSTED}


def test_post_with_matching_explicit_accounts_and_ledger_is_accepted(book: Book) -> None:
    book.submit(pending("p1", "alice", "bob", 400))

    outcome = book.apply(post("c1", "p1", debit_account_id="alice", credit_account_id="bob", ledger=ZMW))

    assert outcome.results == [R.OK]


def test_void_releases_the_whole_reservation(book: Book) -> None:
    book.submit(pending("p1", "alice", "bob", 400))

    outcome = book.apply(void("v1", "p1"))

    assert outcome.results == [R.OK]
    assert counters(outcome.accounts["alice"]) == (0, 0, 0, ALICE_FUNDS)
    assert counters(outcome.accounts["bob"]) == (0, 0, 0, 0)
    assert outcome.records[0].amount == 400
    assert outcome.pending_status == {"p1": PendingStatus.VOIDED}


def test_void_naming_the_full_pending_amount_is_accepted(book: Book) -> None:
    book.submit(pending("p1", "alice", "bob", 400))

    assert book.apply(void("v1", "p1", amount=400)).results == [R.OK]


@pytest.mark.parametrize(
    ("request_", "result"),
    [
        pytest.param(post("c1", "p1", amount=401), R.EXCEEDS_PENDING_TRANSFER_AMOUNT, id="post-more-than-reserved"),
        pytest.param(post("c1", "p1", amount=-1), R.AMOUNT_MUST_BE_POSITIVE, id="post-negative"),
        pytest.param(void("v1", "p1", amount=100), R.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT, id="void-part"),
        pytest.param(post("c1", "nope"), R.PENDING_TRANSFER_NOT_FOUND, id="unknown-pending"),
        pytest.param(post("c1", "plain"), R.PENDING_TRANSFER_NOT_PENDING, id="plain-transfer-is-not-pending"),
        pytest.param(Transfer("c1", flags=POST), R.PENDING_ID_REQUIRED, id="post-without-pending-id"),
        pytest.param(
            post("c1", "p1", debit_account_id="carol"),
            R.PENDING_TRANSFER_HAS_DIFFERENT_ACCOUNTS,
            id="post-other-debit",
        ),
        pytest.param(
            void("v1", "p1", credit_account_id="carol"),
            R.PENDING_TRANSFER_HAS_DIFFERENT_ACCOUNTS,
            id="void-other-credit",
        ),
        pytest.param(post("c1", "p1", ledger=KWH), R.PENDING_TRANSFER_HAS_DIFFERENT_LEDGER, id="post-other-ledger"),
        pytest.param(post("c1", "p1", timeout_s=30), R.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER, id="timeout-on-post"),
    ],
)
def test_invalid_post_or_void_is_refused_and_leaves_the_reservation(
    book: Book, request_: Transfer, result: CreateTransferResult
) -> None:
    book.submit(pending("p1", "alice", "bob", 400), transfer("plain", "alice", "carol", 10))

    outcome = book.apply(request_)

    assert outcome.results == [result]
    assert_nothing_changed(outcome)
    assert book.pendings["p1"].status is PendingStatus.PENDING


@pytest.mark.parametrize(
    ("first", "second", "result"),
    [
        pytest.param(void("r1", "p1"), post("r2", "p1"), R.PENDING_TRANSFER_ALREADY_VOIDED, id="post-after-void"),
        pytest.param(void("r1", "p1"), void("r2", "p1"), R.PENDING_TRANSFER_ALREADY_VOIDED, id="void-after-void"),
        pytest.param(post("r1", "p1"), post("r2", "p1"), R.PENDING_TRANSFER_ALREADY_POSTED, id="post-after-post"),
        pytest.param(post("r1", "p1"), void("r2", "p1"), R.PENDING_TRANSFER_ALREADY_POSTED, id="void-after-post"),
        pytest.param(
            post("r1", "p1", amount=100),
            post("r2", "p1", amount=100),
            R.PENDING_TRANSFER_ALREADY_POSTED,
            id="second-partial-post",
        ),
    ],
)
def test_a_resolved_pending_cannot_be_resolved_again(
    book: Book, first: Transfer, second: Transfer, result: CreateTransferResult
) -> None:
    book.submit(pending("p1", "alice", "bob", 400))
    book.submit(first)
    settled = dict(book.accounts)

    outcome = book.apply(second)

    assert outcome.results == [result]
    assert_nothing_changed(outcome)
    assert book.accounts == settled


def test_post_just_before_the_timeout_is_accepted(book: Book) -> None:
    book.submit(pending("p1", "alice", "bob", 400, timeout_s=60))

    assert book.apply(post("c1", "p1"), now_us=NOW + 60 * SECOND - 1).results == [R.OK]


@pytest.mark.parametrize("later", [60 * SECOND, 60 * SECOND + 1, 3600 * SECOND])
@pytest.mark.parametrize("resolve", [post, void], ids=["post", "void"])
def test_post_or_void_at_or_after_the_timeout_is_refused_as_expired(
    book: Book, later: int, resolve: Callable[..., Transfer]
) -> None:
    book.submit(pending("p1", "alice", "bob", 400, timeout_s=60))

    outcome = book.apply(resolve("r1", "p1"), now_us=NOW + later)

    assert outcome.results == [R.PENDING_TRANSFER_EXPIRED]
    assert_nothing_changed(outcome)


def test_pending_without_timeout_never_expires(book: Book) -> None:
    book.submit(pending("p1", "alice", "bob", 400))

    assert book.apply(post("c1", "p1"), now_us=NOW + 10 * 365 * 86_400 * SECOND).results == [R.OK]


def test_pending_and_its_post_in_the_same_batch(book: Book) -> None:
    outcome = book.apply(pending("p1", "alice", "bob", 400, timeout_s=30), post("c1", "p1", amount=300))

    assert outcome.results == [R.OK, R.OK]
    assert [r.id for r in outcome.records] == ["p1", "c1"]
    assert counters(outcome.accounts["alice"]) == (0, 300, 0, ALICE_FUNDS)
    assert counters(outcome.accounts["bob"]) == (0, 0, 0, 300)
    assert outcome.pending_status == {"p1": PendingStatus.POSTED}


def test_pending_and_its_void_in_the_same_batch_leave_balances_as_they_were(book: Book) -> None:
    outcome = book.apply(pending("p1", "alice", "bob", 400), void("v1", "p1"))

    assert outcome.results == [R.OK, R.OK]
    assert len(outcome.records) == 2
    assert outcome.accounts == {}  # final state equals the input state
    assert outcome.pending_status == {"p1": PendingStatus.VOIDED}


def test_reservation_frees_nothing_for_other_spending_until_voided(book: Book) -> None:
    outcome = book.apply(
        pending("p1", "alice", "bob", 800),
        transfer("t1", "alice", "carol", 300),
        void("v1", "p1"),
        transfer("t2", "alice", "carol", 300),
    )

    assert outcome.results == [R.OK, R.EXCEEDS_CREDITS, R.OK, R.OK]


# --- linked chains ------------------------------------------------------------------


def test_failing_member_rolls_back_the_whole_chain(book: Book) -> None:
    outcome = book.apply(
        linked(transfer("t1", "alice", "bob", 100)),
        linked(transfer("t2", "alice", "carol", 100)),
        transfer("t3", "bob", "carol", 5_000),  # bob cannot pay this
    )

    assert outcome.results == [R.LINKED_EVENT_FAILED, R.LINKED_EVENT_FAILED, R.EXCEEDS_CREDITS]
    assert_nothing_changed(outcome)


def test_failure_at_the_start_of_a_chain_fails_the_rest_unevaluated(book: Book) -> None:
    outcome = book.apply(
        linked(transfer("t1", "alice", "ghost", 100)),
        linked(transfer("t2", "alice", "bob", 100)),
        transfer("t3", "alice", "carol", 100),
    )

    assert outcome.results == [R.CREDIT_ACCOUNT_NOT_FOUND, R.LINKED_EVENT_FAILED, R.LINKED_EVENT_FAILED]
    assert_nothing_changed(outcome)


def test_chain_members_see_the_effects_of_earlier_members(book: Book) -> None:
    outcome = book.apply(
        linked(transfer("t1", "alice", "bob", 600)),
        transfer("t2", "bob", "carol", 600),  # bob only has the money because of t1
    )

    assert outcome.results == [R.OK, R.OK]
    assert outcome.accounts["carol"].balance == 600


def test_independent_items_around_a_failed_chain_still_apply(book: Book) -> None:
    outcome = book.apply(
        transfer("a", "alice", "bob", 100),
        linked(transfer("b", "alice", "carol", 100)),
        transfer("c", "carol", "bob", 999),
        transfer("d", "alice", "carol", 100),
    )

    assert outcome.results == [R.OK, R.LINKED_EVENT_FAILED, R.EXCEEDS_CREDITS, R.OK]
    assert [r.id for r in outcome.records] == ["a", "d"]
    assert outcome.accounts["alice"].balance == ALICE_FUNDS - 200
    assert outcome.accounts["bob"].balance == 100
    assert outcome.accounts["carol"].balance == 100


def test_rolled_back_chain_restores_the_working_balances_for_later_items(book: Book) -> None:
    outcome = book.apply(
        linked(transfer("a", "alice", "bob", 600)),
        transfer("b", "alice", "ghost", 1),
        transfer("c", "alice", "carol", ALICE_FUNDS),  # only possible if "a" was really undone
    )

    assert outcome.results == [R.LINKED_EVENT_FAILED, R.CREDIT_ACCOUNT_NOT_FOUND, R.OK]
    assert set(outcome.accounts) == {"alice", "carol"}


def test_rolled_back_chain_does_not_leave_a_pending_behind(book: Book) -> None:
    outcome = book.apply(linked(pending("p1", "alice", "bob", 400)), transfer("t1", "bob", "carol", 5_000))

    assert outcome.results == [R.LINKED_EVENT_FAILED, R.EXCEEDS_CREDITS]
    assert_nothing_changed(outcome)


def test_rolled_back_post_leaves_the_pending_live(book: Book) -> None:
    book.submit(pending("p1", "alice", "bob", 400))

    outcome = book.apply(linked(post("c1", "p1")), transfer("t1", "carol", "bob", 1))

    assert outcome.results == [R.LINKED_EVENT_FAILED, R.EXCEEDS_CREDITS]
    assert_nothing_changed(outcome)
    assert book.apply(post("c1", "p1")).results == [R.OK]


def test_retrying_a_whole_applied_chain_returns_exists_for_every_member(book: Book) -> None:
    chain = (linked(transfer("t1", "alice", "bob", 100)), transfer("t2", "alice", "carol", 100))
    book.submit(*chain)

    outcome = book.apply(*chain)

    assert outcome.results == [R.EXISTS, R.EXISTS]
    assert_nothing_changed(outcome)


def test_chain_member_that_already_exists_counts_as_applied(book: Book) -> None:
    t1 = linked(transfer("t1", "alice", "bob", 100))
    book.submit(t1, transfer("t2", "alice", "carol", 100))

    outcome = book.apply(t1, transfer("t3", "alice", "carol", 100))

    assert outcome.results == [R.EXISTS, R.OK]
    assert [r.id for r in outcome.records] == ["t3"]


def test_linking_is_batch_structure_not_part_of_a_transfers_identity(book: Book) -> None:
    # A chain member may be retried on its own (and a single transfer inside a
    # chain): the LINKED flag says how a batch was sent, not what was transferred.
    t1 = linked(transfer("t1", "alice", "bob", 100))
    book.submit(t1, transfer("t2", "alice", "carol", 100))

    assert book.apply(replace(t1, flags=TransferFlags.NONE)).results == [R.EXISTS]
    outcome = book.apply(replace(t1, amount=99, flags=TransferFlags.NONE))
    assert outcome.results == [R.EXISTS_WITH_DIFFERENT_FIELDS]
    assert_nothing_changed(outcome)


def test_linked_chain_left_open_at_the_end_of_the_batch_is_refused(book: Book) -> None:
    outcome = book.apply(
        transfer("a", "alice", "bob", 100),
        linked(transfer("b", "alice", "bob", 100)),
        linked(transfer("c", "alice", "bob", 100)),
    )

    assert outcome.results[0] is R.OK
    assert outcome.results[-1] is R.LINKED_EVENT_CHAIN_OPEN
    assert not any(r.applied for r in outcome.results[1:])
    assert [r.id for r in outcome.records] == ["a"]
    assert outcome.accounts["bob"].balance == 100


def test_single_linked_transfer_is_an_open_chain(book: Book) -> None:
    outcome = book.apply(linked(transfer("a", "alice", "bob", 100)))

    assert outcome.results == [R.LINKED_EVENT_CHAIN_OPEN]
    assert_nothing_changed(outcome)


# --- expiry -----------------------------------------------------------------------


def test_expire_pendings_releases_a_due_pending_and_records_it(book: Book) -> None:
    book.submit(pending("p1", "alice", "bob", 400, timeout_s=30), transfer("t1", "alice", "carol", 100))

    outcome = book.expire(now_us=NOW + 30 * SECOND)

    [record] = outcome.records
    assert outcome.results == [R.OK]
    assert record.id == expiry_id("p1")
    assert record.flags == TransferFlags.EXPIRE_PENDING
    assert record.code == TransferCode.EXPIRY
    assert (record.debit_account_id, record.credit_account_id, record.amount, record.ledger) == (
        "alice",
        "bob",
        400,
        ZMW,
    )
    assert record.pending_id == "p1"
    assert record.timestamp == NOW + 30 * SECOND
    assert counters(outcome.accounts["alice"]) == (0, 100, 0, ALICE_FUNDS)
    assert counters(outcome.accounts["bob"]) == (0, 0, 0, 0)
    assert outcome.pending_status == {"p1": PendingStatus.EXPIRED}


def test_expire_pendings_releases_only_what_is_due(book: Book) -> None:
    book.submit(
        pending("due", "alice", "bob", 100, timeout_s=30),
        pending("later", "alice", "bob", 100, timeout_s=90),
        pending("forever", "alice", "bob", 100),
        pending("posted", "alice", "carol", 100, timeout_s=30),
        pending("voided", "alice", "carol", 100, timeout_s=30),
    )
    book.submit(post("c1", "posted"), void("v1", "voided"))

    outcome = book.expire(now_us=NOW + 60 * SECOND)

    assert [r.pending_id for r in outcome.records] == ["due"]
    assert outcome.pending_status == {"due": PendingStatus.EXPIRED}
    assert book["alice"].debits_pending == 200  # "later" and "forever" still reserved
    assert book["bob"].credits_pending == 200


def test_expire_pendings_before_the_timeout_does_nothing(book: Book) -> None:
    book.submit(pending("p1", "alice", "bob", 400, timeout_s=30))

    outcome = book.expire(now_us=NOW + 30 * SECOND - 1)

    assert outcome.results == []
    assert_nothing_changed(outcome)


def test_expired_pending_cannot_be_posted_or_voided(book: Book) -> None:
    book.submit(pending("p1", "alice", "bob", 400, timeout_s=30))
    book.expire(now_us=NOW + 30 * SECOND)

    assert book.apply(post("c1", "p1"), now_us=NOW).results == [R.PENDING_TRANSFER_EXPIRED]
    assert book.apply(void("v1", "p1"), now_us=NOW).results == [R.PENDING_TRANSFER_EXPIRED]


def test_expire_pendings_releases_a_pending_only_once_even_if_listed_twice(book: Book) -> None:
    book.submit(pending("p1", "alice", "bob", 400, timeout_s=30))
    live = book.pendings["p1"]

    outcome = book.expire(now_us=NOW + 30 * SECOND, due=[live, live])

    assert [r.id for r in outcome.records] == [expiry_id("p1")], (
        "BUG engine/ledger/rules.py:309 expire_pendings skips by the *input* status (live.status), not the "
        "working state it updates, so a pending listed twice in `due` is released twice: two records with "
        f"the same id {expiry_id('p1')!r} and pending counters driven negative "
        f"(alice.debits_pending={outcome.accounts['alice'].debits_pending}); expected one release"
    )


# --- balance_deltas ---------------------------------------------------------------------


def record_of(flags: TransferFlags, amount: int) -> TransferRecord:
    return TransferRecord(
        id="r",
        debit_account_id="dr",
        credit_account_id="cr",
        amount=amount,
        ledger=ZMW,
        code=0,
        flags=flags,
        pending_id=None if flags & PENDING or not flags else "p",
        timeout_s=0,
        reference="",
        timestamp=NOW,
    )


@pytest.mark.parametrize(
    ("flags", "amount", "pending_amount", "debit", "credit"),
    [
        pytest.param(TransferFlags.NONE, 70, 0, ("dr", 0, 70, 0, 0), ("cr", 0, 0, 0, 70), id="plain"),
        pytest.param(LINKED, 70, 0, ("dr", 0, 70, 0, 0), ("cr", 0, 0, 0, 70), id="linked-plain"),
        pytest.param(PENDING, 70, 0, ("dr", 70, 0, 0, 0), ("cr", 0, 0, 70, 0), id="pending"),
        pytest.param(POST, 30, 70, ("dr", -70, 30, 0, 0), ("cr", 0, 0, -70, 30), id="partial-post"),
        pytest.param(VOID, 70, 70, ("dr", -70, 0, 0, 0), ("cr", 0, 0, -70, 0), id="void"),
        pytest.param(TransferFlags.EXPIRE_PENDING, 70, 70, ("dr", -70, 0, 0, 0), ("cr", 0, 0, -70, 0), id="expire"),
    ],
)
def test_balance_deltas(
    flags: TransferFlags,
    amount: int,
    pending_amount: int,
    debit: tuple[str, int, int, int, int],
    credit: tuple[str, int, int, int, int],
) -> None:
    assert balance_deltas(record_of(flags, amount), pending_amount) == (debit, credit)


@pytest.mark.parametrize("flags", [TransferFlags.NONE, PENDING, POST, VOID, TransferFlags.EXPIRE_PENDING])
def test_balance_deltas_always_move_debits_and_credits_equally(flags: TransferFlags) -> None:
    (_, *debit), (_, *credit) = balance_deltas(record_of(flags, 40), 90)

    assert sum(debit) == sum(credit)
    assert debit[0] == credit[2]  # pending side
    assert debit[1] == credit[3]  # posted side


# --- properties over random batches ----------------------------------------------------

ZMW_WALLETS = ["alice", "bob", "carol"]
KWH_WALLETS = ["alice_kwh", "bob_kwh"]
ACCOUNTS_BY_LEDGER = {ZMW: ["issuer", "clearing", *ZMW_WALLETS], KWH: ["kwh_pool", *KWH_WALLETS]}
PENDING_IDS = [f"p{i}" for i in range(6)]  # reserves use these, so posts and voids find them
OTHER_IDS = [f"t{i}" for i in range(12)]


def funded_book() -> Book:
    """A balanced starting point built by the rules themselves."""
    book = Book.of(
        system("issuer"),
        system("clearing", kind=AccountKind.MOBILE_MONEY_CLEARING, flags=NO_EXCESS_CREDIT),
        *(wallet(w) for w in ZMW_WALLETS),
        system("kwh_pool", ledger=KWH, kind=AccountKind.CLUSTER_POOL),
        *(wallet(w, ledger=KWH) for w in KWH_WALLETS),
    )
    outcome = book.submit(
        transfer("dep-alice", "clearing", "alice", 1000),
        transfer("dep-bob", "clearing", "bob", 500),
        transfer("promo-carol", "issuer", "carol", 200),
        transfer("gen-alice", "kwh_pool", "alice_kwh", 2000),
        pending("hold-bob", "bob", "carol", 300, timeout_s=45),
        pending("hold-kwh", "alice_kwh", "bob_kwh", 700),
        now_us=NOW,
    )
    assert all(r is R.OK for r in outcome.results)
    return book


@st.composite
def random_transfers(draw: st.DrawFn) -> Transfer:
    """Mostly plausible requests (so many apply), with a steady share of every kind of mistake."""
    kind = draw(st.sampled_from(["plain", "plain", "pending", "pending", "post", "void"]))
    flags = LINKED if draw(st.integers(0, 3)) == 0 else TransferFlags.NONE
    if kind in ("post", "void"):
        transfer_id = draw(st.sampled_from(OTHER_IDS))
        pending_id = draw(st.sampled_from([*PENDING_IDS, "hold-bob", "hold-kwh", "dep-alice", "unknown"]))
        amount = draw(st.one_of(st.just(0), st.just(0), st.integers(-1, 800)))
        flags |= POST if kind == "post" else VOID
        return Transfer(transfer_id, amount=amount, pending_id=pending_id, flags=flags)
    ledger = draw(st.sampled_from(Ledger))
    names = st.sampled_from(ACCOUNTS_BY_LEDGER[ledger])
    anything = st.sampled_from([*ACCOUNTS_BY_LEDGER[ZMW], *ACCOUNTS_BY_LEDGER[KWH], "ghost"])
    debit = draw(st.one_of(names, names, names, anything))
    credit = draw(st.one_of(names, names, names, anything))
    amount = draw(st.integers(-1, 0)) if draw(st.integers(0, 9)) == 0 else draw(st.integers(1, 1500))
    timeout = 0
    if kind == "pending":
        transfer_id = draw(st.sampled_from(PENDING_IDS))
        flags |= PENDING
        timeout = draw(st.sampled_from([0, 10, 60]))
    else:
        transfer_id = draw(st.sampled_from(OTHER_IDS))
    explicit_ledger = draw(st.sampled_from([None, None, None, ledger, ZMW, KWH]))
    return Transfer(transfer_id, debit, credit, amount, ledger=explicit_ledger, flags=flags, timeout_s=timeout)


batches = st.lists(
    st.tuples(st.lists(random_transfers(), min_size=1, max_size=10), st.integers(0, 90 * SECOND)),
    min_size=1,
    max_size=4,
)


def replay(accounts: dict[str, Account], records: Sequence[TransferRecord], known: dict[str, TransferRecord]) -> None:
    """Apply each record's balance_deltas to ``accounts`` in place (as ``ledger verify`` would)."""
    for record in records:
        pending_amount = known[record.pending_id].amount if record.pending_id else 0
        for delta in balance_deltas(record, pending_amount):
            account_id, dp, dpo, cp, cpo = delta
            a = accounts[account_id]
            accounts[account_id] = a.with_balances(
                a.debits_pending + dp, a.debits_posted + dpo, a.credits_pending + cp, a.credits_posted + cpo
            )
        known[record.id] = record


def chains_of(transfers: Sequence[Transfer]) -> list[list[int]]:
    chains, current = [], []
    for i, t in enumerate(transfers):
        current.append(i)
        if not t.flags & LINKED:
            chains.append(current)
            current = []
    return [*chains, current] if current else chains


def check_outcome(before: Book, outcome: BatchOutcome, transfers: Sequence[Transfer] | None) -> None:
    # Summing balance_deltas of the new records over the input accounts reproduces the outcome.
    replayed = dict(before.accounts)
    replay(replayed, outcome.records, dict(before.existing))
    assert {a: acc for a, acc in replayed.items() if acc != before.accounts[a]} == outcome.accounts

    ids = [r.id for r in outcome.records]
    assert len(ids) == len(set(ids)), "a transfer id was recorded twice"
    assert not set(ids) & set(before.existing), "an existing transfer was recorded again"
    if transfers is None:
        return
    assert len(outcome.results) == len(transfers)
    assert sorted(ids) == sorted(t.id for t, r in zip(transfers, outcome.results, strict=True) if r is R.OK)
    for chain in chains_of(transfers):
        applied = {outcome.results[i].applied for i in chain}
        assert len(applied) == 1, f"chain {chain} was applied in part: {[outcome.results[i] for i in chain]}"
    if transfers[-1].flags & LINKED:
        open_chain = chains_of(transfers)[-1]
        assert not any(outcome.results[i].applied for i in open_chain), "a chain left open was applied"


def check_book(book: Book) -> None:
    for ledger in Ledger:
        on_ledger = [a for a in book.accounts.values() if a.ledger is ledger]
        assert sum(a.debits_pending for a in on_ledger) == sum(a.credits_pending for a in on_ledger)
        assert sum(a.debits_posted for a in on_ledger) == sum(a.credits_posted for a in on_ledger)
    for a in book.accounts.values():
        assert min(counters(a)) >= 0, a
        if a.flags & NO_OVERDRAFT:
            assert a.debits_pending + a.debits_posted <= a.credits_posted, f"{a.id} overdrawn"
        if a.flags & NO_EXCESS_CREDIT:
            assert a.credits_pending + a.credits_posted <= a.debits_posted, f"{a.id} over-credited"
        live = [p.transfer for p in book.pendings.values() if p.status is PendingStatus.PENDING]
        assert a.debits_pending == sum(t.amount for t in live if t.debit_account_id == a.id)
        assert a.credits_pending == sum(t.amount for t in live if t.credit_account_id == a.id)


@settings(max_examples=300, deadline=None)
@given(batches)
def test_random_batches_keep_the_ledger_consistent(batch_list: list[tuple[list[Transfer], int]]) -> None:
    book = funded_book()
    now = NOW
    for transfers, step in batch_list:
        now += step
        before = Book(dict(book.accounts), dict(book.existing), dict(book.pendings))

        outcome = book.submit(*transfers, now_us=now)

        check_outcome(before, outcome, transfers)
        check_book(book)
        for t, result in zip(transfers, outcome.results, strict=True):
            if result.applied:
                assert t.id in book.existing, "an acknowledged transfer is missing"

    before = Book(dict(book.accounts), dict(book.existing), dict(book.pendings))
    expiry = book.expire(now_us=now + 3600 * SECOND)

    check_outcome(before, expiry, None)
    check_book(book)
    assert all(p.status is not PendingStatus.PENDING or not p.transfer.timeout_s for p in book.pendings.values())
