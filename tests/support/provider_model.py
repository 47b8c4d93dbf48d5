"""A provider as the engine's port sees it, in memory, whose behaviour a test scripts or draws.

Used where a test is about the engine's state machine rather than the wire
(the wire is tested against the HTTP simulator in tests/integration): it
answers a submit by accepting it, recording it and timing out, timing out
without recording it, a 5xx or a refusal; status checks may get no answer;
the provider decides each payment's fate when the test says so.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from engine.payments.model import (
    Direction,
    FailureReason,
    PaymentOrder,
    Provider,
    ProviderState,
    ProviderStatus,
    SubmitOutcome,
    SubmitResult,
)

SUBMITS = ("accept", "accept", "accept", "timeout_recorded", "timeout_lost", "error_500", "reject")
FATES = ("successful", "successful", "failed", "expired")


@dataclass
class Attempt:
    direction: Direction
    external_id: str
    amount_ngwee: int
    state: ProviderState = ProviderState.PENDING
    reason: str = ""


@dataclass
class ModelProvider:
    """A provider as the engine's port sees it, whose behaviour the test scripts."""

    rng: random.Random
    flaky_status: float = 0.2
    submits_script: list[str] = field(default_factory=list)  # the next submits' behaviours, then drawn
    attempts: dict[str, Attempt] = field(default_factory=dict)
    submits: dict[str, int] = field(default_factory=dict)  # external id -> submit calls

    @property
    def provider(self) -> Provider:
        return Provider.MTN

    def get(self, provider: Provider) -> ModelProvider | None:  # the directory of one provider
        return self if provider is Provider.MTN else None

    async def _submit(self, direction: Direction, order: PaymentOrder) -> SubmitOutcome:
        self.submits[order.external_id] = self.submits.get(order.external_id, 0) + 1
        known = {a.external_id for a in self.attempts.values()}
        assert order.attempt_id in self.attempts or order.external_id not in known, "a new attempt id for a payment"
        if order.attempt_id in self.attempts:
            return SubmitOutcome(SubmitResult.DUPLICATE)
        behaviour = self.submits_script.pop(0) if self.submits_script else self.rng.choice(SUBMITS)
        if behaviour in ("accept", "timeout_recorded"):
            self.attempts[order.attempt_id] = Attempt(direction, order.external_id, order.amount_ngwee)
            return SubmitOutcome(SubmitResult.ACCEPTED if behaviour == "accept" else SubmitResult.UNKNOWN)
        if behaviour == "reject":
            self.attempts[order.attempt_id] = Attempt(
                direction, order.external_id, order.amount_ngwee, ProviderState.FAILED, FailureReason.NOT_ALLOWED
            )
            return SubmitOutcome(SubmitResult.REJECTED, reason=FailureReason.NOT_ALLOWED)
        return SubmitOutcome(SubmitResult.UNKNOWN)

    async def request_payment(self, order: PaymentOrder) -> SubmitOutcome:
        return await self._submit(Direction.DEPOSIT, order)

    async def pay_out(self, order: PaymentOrder) -> SubmitOutcome:
        return await self._submit(Direction.WITHDRAWAL, order)

    async def status(self, direction: Direction, attempt_id: str) -> ProviderStatus:
        if self.rng.random() < self.flaky_status:
            return ProviderStatus(ProviderState.UNKNOWN)
        attempt = self.attempts.get(attempt_id)
        if attempt is None:
            return ProviderStatus(ProviderState.NOT_FOUND)
        return ProviderStatus(attempt.state, reason=attempt.reason, amount_ngwee=attempt.amount_ngwee)

    def decide(self, fate: str, attempt_id: str | None = None) -> None:
        """The provider settles ``attempt_id``, or its oldest pending attempt (approved, refused, never answered)."""
        for key, attempt in self.attempts.items():
            if attempt.state is ProviderState.PENDING and attempt_id in (None, key):
                if fate == "successful":
                    attempt.state = ProviderState.SUCCESSFUL
                elif fate == "failed":
                    attempt.state, attempt.reason = ProviderState.FAILED, FailureReason.NOT_ENOUGH_FUNDS
                else:
                    attempt.state, attempt.reason = ProviderState.EXPIRED, FailureReason.EXPIRED
                return
