"""Payment rules on the in-memory database, with a scripted provider: what a user and an operator notice."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import pytest

from engine.identity.model import User
from engine.kernel.clock import ManualClock
from engine.kernel.errors import (
    IdempotencyConflict,
    InsufficientFunds,
    OutflowHeld,
    PaymentLimitReached,
    PaymentNotFinal,
    PinNotVerified,
    ProviderUnavailable,
    SelfTrade,
)
from engine.kernel.events import EventBus
from engine.payments.config import PaymentConfig
from engine.payments.events import LARGE_FIRST_WITHDRAWAL, MANY_SENDERS, RiskSignal
from engine.payments.model import Direction, FailureReason, Payment, PaymentState, Provider
from engine.payments.reconcile import Difference, StatementLine, compare
from engine.platform import Platform, event_bus
from engine.uow import UnitOfWork
from storage import open_store
from tests.conftest import TEST_CONFIG, TEST_HASHER
from tests.support.provider_model import ModelProvider

PIN = "5173"
K = 100  # ngwee per Kwacha
CONFIG = replace(TEST_CONFIG, starting_credit_ngwee=0)


@dataclass
class World:
    platform: Platform
    clock: ManualClock
    provider: ModelProvider
    signals: list[RiskSignal]

    async def user(self, phone: str, name: str) -> User:
        return await self.platform.users.register(phone=phone, name=name, language="en", pin=PIN)

    async def balance(self, user: User) -> int:
        return (await self.platform.wallet.balances(user)).ngwee

    async def sms(self, user: User) -> list[tuple[str, dict[str, str | int]]]:
        rows = await self.platform.store.outbox.list_outbox(recipient=user.phone)
        return [(r.message.template, r.message.params) for r in rows]

    async def deposit(self, user: User, ngwee: int, fate: str = "successful") -> Payment:
        started = await self.platform.payments.deposit(user, ngwee)
        payment = await self.platform.payments.advance(started.payment)
        self.provider.decide(fate, payment.attempt_id)
        return await self.platform.payments.advance(payment)

    async def withdraw(self, user: User, ngwee: int) -> Payment:
        proof = await self.platform.users.verify_pin(user, PIN)
        started = await self.platform.payments.withdraw(proof, user, ngwee)
        return await self.platform.payments.advance(started.payment)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = ManualClock()
    provider = ModelProvider(random.Random(1), flaky_status=0.0)
    provider.submits_script.extend(["accept"] * 100)
    signals: list[RiskSignal] = []
    bus: EventBus[UnitOfWork] = event_bus(CONFIG)

    async def keep(event: RiskSignal, _uow: UnitOfWork) -> None:
        signals.append(event)

    bus.subscribe(RiskSignal, keep)
    database = await open_store("memory:", clock=clock)
    platform = Platform(database, CONFIG, TEST_HASHER, clock, bus=bus, providers=provider, payments=PaymentConfig())
    await platform.bootstrap()
    yield World(platform, clock, provider, signals)
    await platform.close()


MWILA, CHIPO, BWALYA = "+260961000001", "+260962000002", "+260963000003"


async def test_a_deposit_is_credited_only_when_the_provider_collected_it(world: World) -> None:
    mwila = await world.user(MWILA, "Mwila Banda")
    started = await world.platform.payments.deposit(mwila, 50 * K)
    assert started.payment.provider is Provider.MTN  # 096: MTN
    pending = await world.platform.payments.advance(started.payment)
    assert pending.state is PaymentState.PENDING
    assert await world.balance(mwila) == 0  # the user has not approved yet
    world.provider.decide("successful")
    done = await world.platform.payments.advance(pending)
    assert done.state is PaymentState.SUCCESSFUL
    assert await world.balance(mwila) == 50 * K
    [(template, params)] = [m for m in await world.sms(mwila) if m[0] != "sms.welcome"]
    assert template == "sms.deposit_received"
    assert params["ngwee"] == 50 * K
    assert params["ref"] == done.reference
    assert params["balance_ngwee"] == 50 * K


async def test_a_deposit_the_user_never_approved_credits_nothing_and_says_why(world: World) -> None:
    mwila = await world.user(MWILA, "Mwila Banda")
    done = await world.deposit(mwila, 20 * K, fate="expired")
    assert done.state is PaymentState.EXPIRED
    assert done.reason == FailureReason.EXPIRED
    assert await world.balance(mwila) == 0
    assert ("sms.deposit_failed", 3) in [(t, p.get("why")) for t, p in await world.sms(mwila)]  # "not approved in time"


async def test_a_withdrawal_is_reserved_at_once_and_paid_or_released_on_the_providers_word(world: World) -> None:
    mwila = await world.user(MWILA, "Mwila Banda")
    await world.deposit(mwila, 100 * K)
    paid = await world.withdraw(mwila, 30 * K)
    assert await world.balance(mwila) == 70 * K  # reserved before the provider answers
    world.provider.decide("successful")
    paid = await world.platform.payments.advance(paid)
    assert paid.state is PaymentState.SUCCESSFUL
    assert await world.balance(mwila) == 70 * K
    refused = await world.withdraw(mwila, 40 * K)
    assert await world.balance(mwila) == 30 * K
    world.provider.decide("failed")
    refused = await world.platform.payments.advance(refused)
    assert refused.state is PaymentState.FAILED
    assert await world.balance(mwila) == 70 * K
    templates = [t for t, _ in await world.sms(mwila)]
    assert "sms.withdrawal_paid" in templates
    assert "sms.withdrawal_failed" in templates


async def test_a_withdrawal_whose_outcome_is_unknown_stays_reserved_until_an_operator_decides(world: World) -> None:
    mwila = await world.user(MWILA, "Mwila Banda")
    await world.deposit(mwila, 100 * K)
    world.provider.submits_script[:0] = ["timeout_recorded"]
    payment = await world.withdraw(mwila, 30 * K)
    assert payment.state is PaymentState.UNKNOWN
    world.provider.flaky_status = 1.0  # the provider never answers again
    for _ in range(30):
        world.clock.advance(3600)
        for due in await world.platform.payments.claim_due():
            await world.platform.payments.advance(due)
    stuck = await world.platform.payments.get(payment.id)
    assert stuck.review
    assert not stuck.final
    assert await world.balance(mwila) == 70 * K  # never released while unknown
    assert [p.id for p in await world.platform.payments.review_queue()] == [payment.id]
    assert "sms.payment_delayed" in [t for t, _ in await world.sms(mwila)]
    resolved = await world.platform.payments.resolve(payment.id, PaymentState.FAILED, "MTN portal: no such transfer")
    assert resolved.state is PaymentState.FAILED
    assert await world.balance(mwila) == 100 * K
    with pytest.raises(PaymentNotFinal):
        await world.platform.payments.resolve(payment.id, PaymentState.SUCCESSFUL, "again")


async def test_a_submit_that_never_arrived_is_sent_again_under_the_same_attempt_id(world: World) -> None:
    mwila = await world.user(MWILA, "Mwila Banda")
    world.provider.submits_script[:0] = ["timeout_lost"]
    payment = (await world.platform.payments.deposit(mwila, 10 * K)).payment
    unknown = await world.platform.payments.advance(payment)
    assert unknown.state is PaymentState.UNKNOWN
    world.clock.advance(10)
    [due] = await world.platform.payments.claim_due()
    again = await world.platform.payments.advance(due)
    assert again.state is PaymentState.PENDING
    assert world.provider.submits[payment.id] == 2
    assert list(world.provider.attempts) == [payment.attempt_id]


async def test_withdrawing_needs_the_pin_and_the_money(world: World) -> None:
    mwila = await world.user(MWILA, "Mwila Banda")
    chipo = await world.user(CHIPO, "Chipo Phiri")
    chipos_proof = await world.platform.users.verify_pin(chipo, PIN)
    with pytest.raises(PinNotVerified):
        await world.platform.payments.withdraw(chipos_proof, mwila, 10 * K)
    proof = await world.platform.users.verify_pin(mwila, PIN)
    with pytest.raises(InsufficientFunds):
        await world.platform.payments.withdraw(proof, mwila, 10 * K)
    assert await world.platform.payments.history(mwila) == []


async def test_nothing_leaves_a_wallet_for_a_day_after_a_pin_reset(world: World) -> None:
    mwila = await world.user(MWILA, "Mwila Banda")
    chipo = await world.user(CHIPO, "Chipo Phiri")
    await world.deposit(mwila, 100 * K)
    mwila = await world.platform.users.reset_pin(mwila)
    [one_time_pin] = [p["pin"] for t, p in await world.sms(mwila) if t == "sms.pin_reset"]
    proof = await world.platform.users.verify_pin(mwila, str(one_time_pin))
    with pytest.raises(OutflowHeld):
        await world.platform.payments.withdraw(proof, mwila, 10 * K)
    with pytest.raises(OutflowHeld):
        await world.platform.money.send(proof, mwila, chipo.phone, 10 * K)
    assert await world.balance(mwila) == 100 * K


async def test_limits_count_pending_payments_and_say_what_is_left(world: World) -> None:
    mwila = await world.user(MWILA, "Mwila Banda")
    with pytest.raises(PaymentLimitReached) as too_big:
        await world.platform.payments.deposit(mwila, 10_001 * K)
    assert too_big.value.params["kind"] == "per_transaction"
    for _ in range(2):  # K20,000 a day for tier 1: two pending K9,000 deposits leave K2,000
        await world.platform.payments.deposit(mwila, 9_000 * K)
    with pytest.raises(PaymentLimitReached) as daily:
        await world.platform.payments.deposit(mwila, 3_000 * K)
    assert daily.value.params == {"kind": "daily", "limit_ngwee": 20_000 * K, "left_ngwee": 2_000 * K, "tier": 1}
    await world.platform.payments.deposit(mwila, 2_000 * K)  # exactly what is left
    mwila = await world.platform.users.set_kyc_tier(mwila, 2)
    await world.platform.payments.deposit(mwila, 1_000 * K)  # a higher tier, a higher limit


async def test_a_wallet_never_goes_over_its_cap(world: World) -> None:
    mwila = await world.user(MWILA, "Mwila Banda")
    chipo = await world.user(CHIPO, "Chipo Phiri")
    limits = world.platform.payments.config.tier(1)
    world.platform.payments.config.tiers[1] = replace(limits, balance_cap=150 * K)  # type: ignore[index]
    await world.deposit(mwila, 100 * K)
    await world.deposit(chipo, 100 * K)
    with pytest.raises(PaymentLimitReached) as cap:
        await world.platform.payments.deposit(mwila, 60 * K)
    assert cap.value.params["kind"] == "balance"
    assert cap.value.params["left_ngwee"] == 50 * K
    proof = await world.platform.users.verify_pin(chipo, PIN)
    with pytest.raises(PaymentLimitReached) as full:
        await world.platform.money.send(proof, chipo, mwila.phone, 60 * K)
    assert full.value.params["kind"] == "recipient_balance"
    assert await world.balance(chipo) == 100 * K


async def test_sending_money_shows_the_name_moves_it_once_and_tells_both(world: World) -> None:
    mwila = await world.user(MWILA, "Mwila Banda")
    chipo = await world.user(CHIPO, "Chipo Phiri")
    await world.deposit(mwila, 100 * K)
    proof = await world.platform.users.verify_pin(mwila, PIN)
    receipt = await world.platform.money.send(proof, mwila, CHIPO, 25 * K, operation_id="op-send-1")
    again = await world.platform.money.send(proof, mwila, CHIPO, 25 * K, operation_id="op-send-1")
    assert receipt.recipient_name == "Chipo P."
    assert again.replayed
    assert not receipt.replayed
    assert await world.balance(mwila) == 75 * K
    assert await world.balance(chipo) == 25 * K
    assert ("sms.money_sent", 75 * K) in [(t, p.get("balance_ngwee")) for t, p in await world.sms(mwila)]
    assert ("sms.money_received", "Mwila B.") in [(t, p.get("name")) for t, p in await world.sms(chipo)]
    [sent] = await world.platform.payments.history(chipo)  # the recipient's history shows it too
    assert sent.direction is Direction.TRANSFER
    assert sent.reference == receipt.payment.reference
    with pytest.raises(IdempotencyConflict):
        await world.platform.money.send(proof, mwila, CHIPO, 30 * K, operation_id="op-send-1")
    with pytest.raises(SelfTrade):
        await world.platform.money.send(proof, mwila, MWILA, 1 * K)


async def test_the_same_deposit_started_twice_is_one_payment(world: World) -> None:
    mwila = await world.user(MWILA, "Mwila Banda")
    first = await world.platform.payments.deposit(mwila, 10 * K, operation_id="dep-key-1")
    second = await world.platform.payments.deposit(mwila, 10 * K, operation_id="dep-key-1")
    assert second.replayed
    assert second.payment.id == first.payment.id
    with pytest.raises(IdempotencyConflict):
        await world.platform.payments.deposit(mwila, 11 * K, operation_id="dep-key-1")
    assert len(await world.platform.payments.history(mwila)) == 1


async def test_a_callback_is_only_a_hint(world: World) -> None:
    mwila = await world.user(MWILA, "Mwila Banda")
    payment = await world.deposit(mwila, 10 * K)
    assert payment.final
    assert await world.platform.payments.hint(Provider.MTN, payment.id) is None  # already final: nothing to check
    assert await world.platform.payments.hint(Provider.MTN, "no-such-payment") is None
    pending = await world.platform.payments.advance((await world.platform.payments.deposit(mwila, 5 * K)).payment)
    assert await world.platform.payments.hint(Provider.AIRTEL, pending.id) is None  # another provider's id
    hinted = await world.platform.payments.hint(Provider.MTN, pending.attempt_id)  # as Airtel's callbacks name it
    assert hinted is not None
    still = await world.platform.payments.advance(hinted)  # the provider has not decided: nothing moves
    assert still.state is PaymentState.PENDING
    assert await world.balance(mwila) == 10 * K


async def test_numbers_pick_their_provider_and_unserved_networks_say_so(world: World) -> None:
    zamtel = await world.user("+260955000001", "Bwalya Mulenga")
    with pytest.raises(ProviderUnavailable) as refused:
        await world.platform.payments.deposit(zamtel, 10 * K)
    assert refused.value.params["provider"] == "zamtel"
    airtel = await world.user("+260977000001", "Chipo Phiri")
    with pytest.raises(ProviderUnavailable):  # this world reaches MTN only
        await world.platform.payments.deposit(airtel, 10 * K)


async def test_risk_signals_are_recorded_for_a_large_first_withdrawal_and_many_senders(world: World) -> None:
    mwila = await world.user(MWILA, "Mwila Banda")
    await world.deposit(mwila, 5_000 * K)
    await world.withdraw(mwila, 1_000 * K)
    assert [s.kind for s in world.signals] == [LARGE_FIRST_WITHDRAWAL]
    receiver = await world.user("+260969000009", "Bwalya Mulenga")
    for i in range(5):
        sender = await world.user(f"+26096500000{i}", "Chipo Phiri")
        await world.deposit(sender, 10 * K)
        proof = await world.platform.users.verify_pin(sender, PIN)
        await world.platform.money.send(proof, sender, receiver.phone, 5 * K)
    assert world.signals[-1].kind == MANY_SENDERS
    assert world.signals[-1].user_id == receiver.id


def test_reconciliation_names_every_difference() -> None:
    def paid(pid: str, amount: int, state: PaymentState = PaymentState.SUCCESSFUL) -> Payment:
        return Payment(pid, "REF", Direction.DEPOSIT, Provider.MTN, 1, MWILA, amount, state)

    ours = [paid("a", 100), paid("b", 200), paid("c", 300, PaymentState.FAILED), paid("d", 400)]
    lines = [
        StatementLine("a", "t1", MWILA, 100, Direction.DEPOSIT, successful=True),
        StatementLine("b", "t2", MWILA, 250, Direction.DEPOSIT, successful=True),
        StatementLine("c", "t3", MWILA, 300, Direction.DEPOSIT, successful=True),
        StatementLine("x", "t4", CHIPO, 500, Direction.DEPOSIT, successful=True),
    ]
    report = compare(Provider.MTN, ours, lines)
    assert report.matched == 1
    assert {(d.difference, d.external_id) for d in report.differences} == {
        (Difference.AMOUNT, "b"),
        (Difference.OUTCOME, "c"),
        (Difference.ONLY_AT_PROVIDER, "x"),
        (Difference.ONLY_WITH_US, "d"),
    }
