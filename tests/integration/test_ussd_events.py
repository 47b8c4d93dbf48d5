"""End-of-session notifications are kept once per session, with the screen it ended on."""

from __future__ import annotations

from engine.analytics.model import UssdSessionEnd
from engine.uow import Database as Store
from tests.integration.conftest import ALL_BACKENDS

pytestmark = ALL_BACKENDS


async def test_funnel_counts_completed_and_dropped_per_screen(store: Store) -> None:
    events = [
        UssdSessionEnd("a", "Success", "buy.done", hops=6),
        UssdSessionEnd("b", "Incomplete", "buy.pin", hops=5),
        UssdSessionEnd("c", "Failed", "buy.pin", hops=5, error="timeout"),
        UssdSessionEnd("d", "Incomplete", "reg.name", hops=2),
    ]
    assert [await store.analytics.record_ussd_end(e) for e in events] == [True] * 4
    assert await store.analytics.record_ussd_end(UssdSessionEnd("b", "Incomplete", "buy.pin")) is False  # AT retried
    funnel = {row.screen: (row.sessions, row.completed, row.dropped) for row in await store.analytics.ussd_funnel()}
    assert funnel == {"buy.pin": (2, 0, 2), "buy.done": (1, 1, 0), "reg.name": (1, 0, 1)}
    assert (await store.analytics.ussd_funnel())[0].screen == "buy.pin"  # most drop-offs first
