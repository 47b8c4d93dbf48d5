"""Hypothesis drives the real ledger and a plain Python model side by side.

After every step, on SQLite and PostgreSQL alike: per ledger, debits equal
credits; no flagged account is overdrawn; the stored balances equal the
model's; every acknowledged transfer is stored exactly once; the hash chain
verifies. Steps include retries with the same and different fields,
two-phase transfers with timeouts, linked and independent batches, and
closing and reopening the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from engine.kernel.clock import ManualClock
from engine.ledger.model import (
    Account,
    AccountFlags,
    AccountKind,
    CreateTransferResult,
    Ledger,
    Transfer,
    TransferFlags,
)
from engine.ledger.verify import verify_ledger
from engine.uow import Database as Store
from storage import open_store
from storage.memory import drop_memory_database
from tests.integration.conftest import ALL_BACKENDS
from tests.support.postgres import PostgresDatabases

R = CreateTransferResult
F = TransferFlags
T = TypeVar("T")

# id -> (ledger, flags)
ACCOUNTS = {
    "world": (Ledger.ZMW, AccountFlags.NONE),
    "w1": (Ledger.ZMW, AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS),
    "w2": (Ledger.ZMW, AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS),
    "cap": (Ledger.ZMW, AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS),
    "eworld": (Ledger.KWH, AccountFlags.NONE),
    "e1": (Ledger.KWH, AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS),
}
IDS = [f"t{i}" for i in range(16)]
account_ids = st.sampled_from(sorted(ACCOUNTS))
# Small amounts make exact-balance and just-over-balance cases common.
amounts = st.integers(min_value=-1, max_value=12)


@dataclass
class ModelPending:
    debit: str
    credit: str
    amount: int
    expires_at: int | None
    status: str = "pending"


@dataclass
class Model:
    """What the ledger should contain, computed the simplest possible way."""

    counters: dict[str, list[int]] = field(default_factory=lambda: {a: [0, 0, 0, 0] for a in ACCOUNTS})
    requests: dict[str, tuple[object, ...]] = field(default_factory=dict)  # applied id -> request fields
    pendings: dict[str, ModelPending] = field(default_factory=dict)
    chain_length: int = 0

    def copy(self) -> Model:
        return Model(
            {k: list(v) for k, v in self.counters.items()},
            dict(self.requests),
            {k: ModelPending(**vars(v)) for k, v in self.pendings.items()},
            self.chain_length,
        )

    def apply(self, t: Transfer, now: int) -> R:
        if t.id in self.requests:
            return R.EXISTS if self.requests[t.id] == t.request_fields() else R.EXISTS_WITH_DIFFERENT_FIELDS
        if t.flags & (F.POST_PENDING | F.VOID_PENDING):
            return self._resolve(t, now)
        if t.amount <= 0:
            return R.AMOUNT_MUST_BE_POSITIVE
        if t.debit_account_id == t.credit_account_id:
            return R.ACCOUNTS_MUST_BE_DIFFERENT
        (dl, dflags), (cl, cflags) = ACCOUNTS[t.debit_account_id], ACCOUNTS[t.credit_account_id]
        if dl != cl:
            return R.ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER
        d, c = self.counters[t.debit_account_id], self.counters[t.credit_account_id]
        if dflags & AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS and d[0] + d[1] + t.amount > d[3]:
            return R.EXCEEDS_CREDITS
        if cflags & AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS and c[2] + c[3] + t.amount > c[1]:
            return R.EXCEEDS_DEBITS
        slot = 0 if t.flags & F.PENDING else 1
        d[slot] += t.amount
        c[slot + 2] += t.amount
        if t.flags & F.PENDING:
            expires = now + t.timeout_s * 1_000_000 if t.timeout_s else None
            self.pendings[t.id] = ModelPending(t.debit_account_id, t.credit_account_id, t.amount, expires)
        self._applied(t)
        return R.OK

    def _resolve(self, t: Transfer, now: int) -> R:
        p = self.pendings.get(t.pending_id or "")
        if p is None:
            return R.PENDING_TRANSFER_NOT_PENDING if t.pending_id in self.requests else R.PENDING_TRANSFER_NOT_FOUND
        if p.status == "posted":
            return R.PENDING_TRANSFER_ALREADY_POSTED
        if p.status == "voided":
            return R.PENDING_TRANSFER_ALREADY_VOIDED
        if p.status == "expired" or (p.expires_at is not None and p.expires_at <= now):
            return R.PENDING_TRANSFER_EXPIRED
        posting = bool(t.flags & F.POST_PENDING)
        if posting and t.amount > p.amount:
            return R.EXCEEDS_PENDING_TRANSFER_AMOUNT
        if not posting and t.amount not in (0, p.amount):
            return R.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT
        self._release(p)
        if posting:
            self.counters[p.debit][1] += t.amount or p.amount
            self.counters[p.credit][3] += t.amount or p.amount
        p.status = "posted" if posting else "voided"
        self._applied(t)
        return R.OK

    def _release(self, p: ModelPending) -> None:
        self.counters[p.debit][0] -= p.amount
        self.counters[p.credit][2] -= p.amount

    def _applied(self, t: Transfer) -> None:
        self.requests[t.id] = t.request_fields()
        self.chain_length += 1

    def expire(self, now: int) -> int:
        n = 0
        for p in self.pendings.values():
            if p.status == "pending" and p.expires_at is not None and p.expires_at <= now:
                self._release(p)
                p.status = "expired"
                self.chain_length += 1
                n += 1
        return n


def ledger_machine(open_url: Callable[[], Awaitable[str]]) -> type[RuleBasedStateMachine]:
    class LedgerMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.loop = asyncio.new_event_loop()
            self.clock = ManualClock()
            self.model = Model()
            self.url = self.run(open_url())
            self.store = self.run(self._open())
            accounts = [Account(a, ledger, AccountKind.TEST, flags=flags) for a, (ledger, flags) in ACCOUNTS.items()]
            self.run(self.store.ledger.create_accounts(accounts))

        def run(self, coro: Awaitable[T]) -> T:
            return self.loop.run_until_complete(coro)

        async def _open(self) -> Store:
            return await open_store(self.url, clock=self.clock, max_batch=50)

        def submit(self, transfers: list[Transfer]) -> list[R]:
            results = self.run(self.store.ledger.create_transfers(transfers))
            assert len(results) == len(transfers)
            return results

        @rule(tid=st.sampled_from(IDS), debit=account_ids, credit=account_ids, amount=amounts)
        def transfer(self, tid: str, debit: str, credit: str, amount: int) -> None:
            t = Transfer(tid, debit, credit, amount)
            expected = self.model.apply(t, self.clock.now_us())
            assert self.submit([t]) == [expected]

        @rule(
            tid=st.sampled_from(IDS),
            debit=account_ids,
            credit=account_ids,
            amount=amounts,
            timeout=st.sampled_from([0, 5, 60]),
        )
        def reserve(self, tid: str, debit: str, credit: str, amount: int, timeout: int) -> None:
            t = Transfer(tid, debit, credit, amount, flags=F.PENDING, timeout_s=timeout)
            expected = self.model.apply(t, self.clock.now_us())
            assert self.submit([t]) == [expected]

        @precondition(lambda self: bool(self.model.pendings))
        @rule(data=st.data(), tid=st.sampled_from(IDS), post=st.booleans(), amount=st.integers(0, 13))
        def resolve(self, data: st.DataObject, tid: str, post: bool, amount: int) -> None:
            pending_id = data.draw(st.sampled_from(sorted(self.model.pendings)))
            flags = F.POST_PENDING if post else F.VOID_PENDING
            t = Transfer(tid, flags=flags, pending_id=pending_id, amount=amount if post else 0)
            expected = self.model.apply(t, self.clock.now_us())
            assert self.submit([t]) == [expected]

        @precondition(lambda self: bool(self.model.requests))
        @rule(data=st.data(), change=st.booleans())
        def retry(self, data: st.DataObject, change: bool) -> None:
            """A client retries an acknowledged transfer, exactly or with a field changed."""
            tid = data.draw(st.sampled_from(sorted(self.model.requests)))
            stored = self.run(self.store.ledger.lookup_transfers([tid]))[tid]
            same = Transfer(
                tid,
                stored.request_debit_account_id,
                stored.request_credit_account_id,
                stored.request_amount,
                ledger=stored.request_ledger,
                code=stored.code,
                flags=stored.flags & ~F.LINKED,  # a chain member retried on its own
                pending_id=stored.pending_id,
                timeout_s=stored.timeout_s,
                reference=stored.reference,
            )
            if change:
                same = Transfer(**{**{s: getattr(same, s) for s in same.__slots__}, "reference": "changed"})
            assert self.submit([same]) == [R.EXISTS_WITH_DIFFERENT_FIELDS if change else R.EXISTS]

        @rule(
            items=st.lists(st.tuples(st.sampled_from(IDS), account_ids, account_ids, amounts), min_size=1, max_size=5),
            linked=st.booleans(),
        )
        def batch(self, items: list[tuple[str, str, str, int]], linked: bool) -> None:
            last = len(items) - 1
            transfers = [
                Transfer(tid, d, c, a, flags=F.LINKED if linked and i < last else F.NONE)
                for i, (tid, d, c, a) in enumerate(items)
            ]
            results = self.submit(transfers)
            now = self.clock.now_us()
            if not linked:
                assert results == [self.model.apply(t, now) for t in transfers]
                return
            trial = self.model.copy()
            expected = [trial.apply(t, now) for t in transfers]
            failed = [i for i, r in enumerate(expected) if r not in (R.OK, R.EXISTS)]
            if failed:
                # All or nothing: the model must not change, and neither may the store.
                assert results[failed[0]] == expected[failed[0]]
                assert all(r is R.LINKED_EVENT_FAILED for i, r in enumerate(results) if i != failed[0])
            else:
                assert results == expected
                self.model = trial

        @rule(seconds=st.sampled_from([1, 4, 30, 61]))
        def advance_time(self, seconds: int) -> None:
            self.clock.advance(seconds)

        @rule()
        def sweep_expired(self) -> None:
            assert self.run(self.store.ledger.expire_pending_transfers()) == self.model.expire(self.clock.now_us())

        @rule()
        def reopen(self) -> None:
            self.run(self.store.close())
            self.store = self.run(self._open())

        @invariant()
        def ledger_agrees_with_model(self) -> None:
            accounts = self.run(self.store.ledger.lookup_accounts(list(ACCOUNTS)))
            stored = {
                a: [x.debits_pending, x.debits_posted, x.credits_pending, x.credits_posted] for a, x in accounts.items()
            }
            assert stored == self.model.counters
            for ledger in Ledger:
                members = [a for a, (led, _) in ACCOUNTS.items() if led is ledger]
                assert sum(stored[a][0] + stored[a][1] for a in members) == sum(
                    stored[a][2] + stored[a][3] for a in members
                )
            for a, (_, flags) in ACCOUNTS.items():
                d_p, d, c_p, c = stored[a]
                if flags & AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS:
                    assert d_p + d <= c
                if flags & AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS:
                    assert c_p + c <= d

        @invariant()
        def every_acknowledged_transfer_exactly_once_and_chain_verifies(self) -> None:
            found = self.run(self.store.ledger.lookup_transfers(sorted(self.model.requests)))
            assert set(found) == set(self.model.requests)
            entries = self.run(self.store.ledger.chain_entries(after_seq=0, limit=100_000))
            assert len(entries) == self.model.chain_length
            assert len({e.id for e in entries}) == len(entries)
            report = self.run(verify_ledger(self.store.ledger))
            assert report.ok, report.problems

        def teardown(self) -> None:
            self.run(self.store.close())
            self.loop.close()
            drop_memory_database(self.url)  # a no-op for the other backends' URLs

    return LedgerMachine


@ALL_BACKENDS
def test_ledger_matches_model(backend: str, tmp_path: Path, postgres_databases: PostgresDatabases) -> None:
    counter = iter(range(10**6))

    async def open_url() -> str:
        if backend == "memory":  # named: the machine's reopen rule reopens the same data
            return f"memory://model-{id(counter)}-{next(counter)}"
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path}/model-{next(counter)}.db"
            store = await open_store(url, migrate=True)
            await store.close()
            return url
        return await postgres_databases.create()

    run_state_machine_as_test(
        ledger_machine(open_url),
        settings=settings(
            max_examples=25 if backend == "sqlite" else 15,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
