"""The event bus: handlers run in order, may record further events, and a loop is stopped."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from engine.kernel.events import DomainEvent, EventBus


@dataclass(frozen=True, slots=True, kw_only=True)
class Paid(DomainEvent):
    ngwee: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Thanked(DomainEvent):
    pass


@dataclass
class Work:
    events: list[DomainEvent] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    def record(self, event: DomainEvent) -> None:
        self.events.append(event)

    def take_events(self) -> list[DomainEvent]:
        taken, self.events = self.events, []
        return taken


async def test_handlers_run_in_subscription_order_and_their_events_are_handled_too() -> None:
    bus: EventBus[Work] = EventBus()

    async def receipt(event: Paid, work: Work) -> None:
        work.log.append(f"receipt {event.ngwee}")
        work.record(Thanked(operation_id=event.operation_id, at_us=event.at_us))

    async def audit(event: Paid, work: Work) -> None:
        work.log.append(f"audit {event.ngwee}")

    async def thanks(_event: Thanked, work: Work) -> None:
        work.log.append("thanks")

    bus.subscribe(Paid, receipt)
    bus.subscribe(Paid, audit)
    bus.subscribe(Thanked, thanks)
    work = Work()
    work.record(Paid(operation_id="op-1", at_us=1, ngwee=500))
    handled = await bus.dispatch(work)
    assert work.log == ["receipt 500", "audit 500", "thanks"]
    assert [type(e).__name__ for e in handled] == ["Paid", "Thanked"]
    assert work.take_events() == []


async def test_an_event_nobody_handles_is_simply_done() -> None:
    work = Work()
    work.record(Thanked(operation_id="op-2", at_us=1))
    assert len(await EventBus[Work]().dispatch(work)) == 1


async def test_handlers_that_keep_recording_events_are_stopped() -> None:
    bus: EventBus[Work] = EventBus()

    async def echo(event: Thanked, work: Work) -> None:
        work.record(Thanked(operation_id=event.operation_id, at_us=event.at_us + 1))

    bus.subscribe(Thanked, echo)
    work = Work()
    work.record(Thanked(operation_id="op-3", at_us=1))
    with pytest.raises(RuntimeError, match="loops"):
        await bus.dispatch(work)
