"""The payment state machine against a model of a provider: whatever the provider does, money stays exact.

The model provider (the engine's provider port, in memory) answers a submit
by accepting it, by recording it and timing out, by timing out without
recording it, with a 5xx, or with a refusal; its status checks sometimes get
no answer; it decides each payment's fate on its own schedule. Hypothesis
draws the interleavings. Whatever it draws, at the end:

- every payment ends once, in the provider's final state for it (or waits
  for an operator, its money still reserved);
- the provider saw one attempt id per payment, however often it was retried;
- a deposit is credited exactly when the provider collected it, a
  withdrawal's money leaves the wallet exactly when the provider paid it out,
  and a withdrawal with no final answer is never released;
- the ledger's clearing account equals what the provider moved.
"""

from __future__ import annotations

import asyncio
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.identity.model import User
from engine.kernel.clock import ManualClock
from engine.kernel.errors import InsufficientFunds
from engine.ledger.model import PendingStatus
from engine.payments.accounts import clearing_account
from engine.payments.config import PaymentConfig
from engine.payments.model import (
    Direction,
    Payment,
    PaymentState,
    Provider,
    ProviderState,
)
from engine.platform import Platform
from storage import open_store
from tests.conftest import TEST_CONFIG, TEST_HASHER
from tests.support.provider_model import FATES, ModelProvider

PIN = "5173"
NAMES = ("Mwila Banda", "Chipo Phiri", "Bwalya Mulenga")
action = st.one_of(
    st.tuples(st.just("deposit"), st.integers(0, 2), st.integers(100, 5_000)),
    st.tuples(st.just("withdraw"), st.integers(0, 2), st.integers(100, 3_000)),
    st.tuples(st.just("step"), st.integers(1, 3_700), st.just(0)),
    st.tuples(st.just("callback"), st.integers(0, 30), st.just(0)),
    st.tuples(st.just("decide"), st.sampled_from(FATES), st.just(0)),
)


async def run(actions: list[tuple[str, object, object]], seed: int) -> None:
    clock = ManualClock()
    provider = ModelProvider(random.Random(seed))
    config = PaymentConfig(poll_schedule_s=(5, 15, 60, 300, 1800, 3600), give_up_after_s=6 * 3600)
    database = await open_store("memory:", clock=clock)
    platform = Platform(database, TEST_CONFIG, TEST_HASHER, clock, providers=provider, payments=config)
    await platform.bootstrap()
    try:
        users = [
            await platform.users.register(
                phone=f"+26096100000{i}",
                name=NAMES[i],
                language="en",
                pin=PIN,
            )
            for i in range(3)
        ]
        started: list[Payment] = []
        for kind, a, b in actions:
            if kind in ("deposit", "withdraw"):
                await start(platform, users[int(str(a))], kind, int(str(b)), started)
            elif kind == "step":
                clock.advance(int(str(a)))
                await step_all(platform)
            elif kind == "callback" and started:
                hinted = await platform.payments.hint(Provider.MTN, started[int(str(a)) % len(started)].id)
                if hinted is not None:
                    await platform.payments.advance(hinted)
            elif kind == "decide":
                provider.decide(str(a))
        # Time passes: the provider settles what it holds, and status checks all get answers.
        provider.flaky_status = 0.0
        fates = random.Random(seed)
        for _ in range(40):
            while any(a.state is ProviderState.PENDING for a in provider.attempts.values()):
                provider.decide(fates.choice(FATES))
            clock.advance(3600)
            await step_all(platform)
        await check(platform, provider, users, started)
    finally:
        await platform.close()


async def start(platform: Platform, user: User, kind: str, amount: int, started: list[Payment]) -> None:
    try:
        if kind == "deposit":
            payment = (await platform.payments.deposit(user, amount)).payment
        else:
            proof = await platform.users.verify_pin(user, PIN)
            payment = (await platform.payments.withdraw(proof, user, amount)).payment
    except InsufficientFunds:  # a refusal is a fine outcome (anything else fails the test)
        return
    started.append(payment)
    await platform.payments.advance(payment)  # the starting process submits it at once


async def step_all(platform: Platform) -> None:
    while due := await platform.payments.claim_due(limit=100):
        for payment in due:
            await platform.payments.advance(payment)


async def check(platform: Platform, provider: ModelProvider, users: list[User], started: list[Payment]) -> None:
    ledger = platform.store.ledger
    credited = {u.id: 0 for u in users}
    for first in started:
        payment = await platform.payments.get(first.id)
        assert provider.submits.get(payment.id, 0) >= 1
        attempt = provider.attempts.get(payment.attempt_id)
        truth = attempt.state if attempt is not None else ProviderState.NOT_FOUND
        if payment.review:
            assert not payment.final
        else:
            assert payment.final, payment
            assert payment.state.value == truth.value, (payment, attempt)
        transfers = await ledger.lookup_transfers([payment.credit_transfer_id, payment.post_transfer_id])
        if payment.direction is Direction.DEPOSIT:
            assert (payment.credit_transfer_id in transfers) == (payment.state is PaymentState.SUCCESSFUL)
            credited[payment.user_id] += payment.amount_ngwee if payment.state is PaymentState.SUCCESSFUL else 0
        else:
            status = (await ledger.pending_statuses([payment.reserve_transfer_id]))[payment.reserve_transfer_id]
            expected = {
                PaymentState.SUCCESSFUL: PendingStatus.POSTED,
                PaymentState.FAILED: PendingStatus.VOIDED,
                PaymentState.EXPIRED: PendingStatus.VOIDED,
            }.get(payment.state, PendingStatus.PENDING)
            assert status is expected, payment
            credited[payment.user_id] -= payment.amount_ngwee if payment.state is PaymentState.SUCCESSFUL else 0
    for user in users:
        balance = (await platform.wallet.balances(user)).ngwee
        starting = TEST_CONFIG.starting_credit_ngwee
        reserved = sum(
            p.amount_ngwee
            for p in [await platform.payments.get(s.id) for s in started]
            if p.user_id == user.id and p.direction is Direction.WITHDRAWAL and not p.final
        )
        assert balance == starting + credited[user.id] - reserved
    moved = sum(
        a.amount_ngwee * (1 if a.direction is Direction.DEPOSIT else -1)
        for a in provider.attempts.values()
        if a.state is ProviderState.SUCCESSFUL
    )
    clearing = (await ledger.lookup_accounts([clearing_account(Provider.MTN)]))[clearing_account(Provider.MTN)]
    assert -clearing.balance == moved


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(action, min_size=1, max_size=25), st.integers(0, 2**16))
def test_money_follows_the_provider_whatever_it_does(actions: list[tuple[str, object, object]], seed: int) -> None:
    asyncio.run(run(actions, seed))
