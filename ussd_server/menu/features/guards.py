"""Why a journey cannot go on now, said at its start (menus/features/guards.yaml).

The conditions the journeys' start routers check (a locked PIN, money held
after a PIN change), and the notes that word the lock, the hold or a used-up
daily cap truthfully each time they are shown.
"""

from __future__ import annotations

from engine.kernel import daily_caps
from engine.kernel.clock import MICROS_PER_SECOND
from engine.kernel.local_time import local_text, next_local_midnight_us
from ussd_server.menu.context import CAPPED, Hop
from ussd_server.menu.features.gates import need_user
from ussd_server.menu.registry import Feature, Outcome

_CAP_LIMITS = {
    daily_caps.Cap.GIFTS: "gifts_per_day",
    daily_caps.Cap.OFFERS: "offers_per_day",
    daily_caps.Cap.LOOKUPS: "lookups_per_day",
}


async def pin_locked(hop: Hop) -> bool:
    return (await need_user(hop)).locked_at(hop.platform.clock.now_us())


async def outflow_held(hop: Hop) -> bool:
    return (await need_user(hop)).hold_until > hop.platform.clock.now_us()


async def lock_status(hop: Hop) -> Outcome:
    """The lock as it is now, worded truthfully: minutes or hours left, or until support resets it."""
    user = await need_user(hop)
    now = hop.platform.clock.now_us()
    if user.locked_until_reset:
        return Outcome(values={"lock_reset": 1}, keep=False)
    left_min = max(1, -(-(user.pin_locked_until - now) // (60 * MICROS_PER_SECOND)))
    offset = hop.platform.config.local_utc_offset_s
    values: dict[str, object] = {"minutes": left_min, "until": local_text(user.pin_locked_until, offset)}
    if left_min > 90:
        values.update(lock_hours=1, hours=-(-left_min // 60))
    return Outcome(values=values, keep=False)


async def hold_status(hop: Hop) -> Outcome:
    user = await need_user(hop)
    return Outcome(values={"until": local_text(user.hold_until, hop.platform.config.local_utc_offset_s)}, keep=False)


async def cap_status(hop: Hop) -> Outcome:
    """The cap that stopped the journey, worded from the settings, each time the screen is shown."""
    cap = daily_caps.Cap(str(hop.session.values.get(CAPPED, daily_caps.Cap.GIFTS)))
    limit = getattr(hop.platform.config, _CAP_LIMITS.get(cap, "gifts_per_day"))
    offset = hop.platform.config.local_utc_offset_s
    until = next_local_midnight_us(hop.platform.clock.now_us(), offset)
    return Outcome(values={f"cap_{cap}": 1, "limit": limit, "until": local_text(until, offset)}, keep=False)


FEATURE = Feature(
    name="guards",
    actions={"lock_status": lock_status, "hold_status": hold_status, "cap_status": cap_status},
    conditions={"pin_locked": pin_locked, "outflow_held": outflow_held},
)
