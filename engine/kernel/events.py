"""Domain events: what a service records as having happened, and the bus that hands them to handlers.

A service records events on its unit of work; before that unit of work
commits, the bus runs every handler subscribed to each event, inside the same
transaction (an SMS receipt is written with the transfer it reports, or not at
all). A handler may record further events; they are handled in the same pass.
A feature that must react to something (alerts, audit, risk) subscribes a
handler when the platform is built, instead of editing the service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    """Base of every event: the operation it belongs to and when it happened (microseconds)."""

    operation_id: str
    at_us: int


E = TypeVar("E", bound=DomainEvent)
C = TypeVar("C", contravariant=True)


class EventSource(Protocol):
    def take_events(self) -> list[DomainEvent]:
        """The events recorded since the last call, oldest first (and forget them)."""
        ...


Ctx = TypeVar("Ctx", bound=EventSource)
Handler = Callable[[Any, Ctx], Awaitable[None]]

# Handlers recording events that lead back to themselves would never finish.
MAX_ROUNDS = 8


class EventBus(Generic[Ctx]):
    """Which handlers run for which event type; subscriptions are made explicitly at start-up."""

    def __init__(self) -> None:
        self._handlers: dict[type[DomainEvent], list[Callable[[Any, Ctx], Awaitable[None]]]] = {}

    def subscribe(self, event_type: type[E], handler: Callable[[E, Ctx], Awaitable[None]]) -> None:
        """Run ``handler(event, unit_of_work)`` for every ``event_type`` recorded (refuses a repeat)."""
        handlers = self._handlers.setdefault(event_type, [])
        if handler in handlers:
            raise ValueError(f"{handler!r} already handles {event_type.__name__}")
        handlers.append(handler)

    def handlers_for(self, event_type: type[DomainEvent]) -> list[Callable[[Any, Ctx], Awaitable[None]]]:
        return list(self._handlers.get(event_type, ()))

    async def dispatch(self, context: Ctx) -> list[DomainEvent]:
        """Hand every event recorded on ``context`` to its handlers, until none is left; returns them all."""
        handled: list[DomainEvent] = []
        for _ in range(MAX_ROUNDS):
            events = context.take_events()
            if not events:
                return handled
            for event in events:
                for handler in self._handlers.get(type(event), ()):
                    await handler(event, context)
            handled += events
        raise RuntimeError("domain events kept recording further events; a handler loops")
