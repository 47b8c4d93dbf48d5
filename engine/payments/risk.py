"""Risk signals kept for the risk engine that comes later: appended as they happen, in the same transaction."""

from __future__ import annotations

from typing import Protocol, TypeVar

from engine.kernel.events import EventBus, EventSource
from engine.payments.events import RiskSignal
from engine.payments.ports import RiskSignals


class RiskContext(EventSource, Protocol):
    @property
    def risk(self) -> RiskSignals: ...


U = TypeVar("U", bound=RiskContext)


class RiskRecorder:
    def subscribe(self, bus: EventBus[U]) -> None:
        bus.subscribe(RiskSignal, self.record)

    async def record(self, event: RiskSignal, uow: RiskContext) -> None:
        await uow.risk.record_risk_signal(
            kind=event.kind, user_id=event.user_id, detail=event.detail, at_us=event.at_us
        )
