"""SMS the owner gets about their identity: the welcome, and every change to their PIN.

PIN messages are security messages: never capped, never folded (see
:mod:`engine.notifications.outbox`).
"""

from __future__ import annotations

from typing import TypeVar

from engine.identity.events import PinChanged, PinLocked, PinReset, UserRegistered
from engine.kernel.config import EngineConfig
from engine.kernel.events import EventBus
from engine.kernel.local_time import local_text
from engine.notifications import outbox as notifications
from engine.notifications.ports import ReceiptContext

U = TypeVar("U", bound=ReceiptContext)


class IdentityReceipts:
    def __init__(self, config: EngineConfig) -> None:
        self._config = config

    def subscribe(self, bus: EventBus[U]) -> None:
        bus.subscribe(UserRegistered, self.welcome)
        bus.subscribe(PinLocked, self.pin_locked)
        bus.subscribe(PinChanged, self.pin_changed)
        bus.subscribe(PinReset, self.pin_reset)

    async def welcome(self, event: UserRegistered, uow: ReceiptContext) -> None:
        user = event.user
        message = notifications.sms(
            f"welcome:{user.id}", "user", user, notifications.WELCOME, credit=event.starting_credit_ngwee
        )
        await notifications.queue(uow.outbox, [message], now_us=event.at_us, config=self._config)

    async def pin_locked(self, event: PinLocked, uow: ReceiptContext) -> None:
        user = event.user
        until = "" if user.locked_until_reset else local_text(user.pin_locked_until, self._config.local_utc_offset_s)
        message = notifications.sms(
            f"pin-locked:{user.id}:{user.pin_locked_until}",
            "owner",
            user,
            notifications.PIN_LOCKED,
            until=until,
            reset=int(user.locked_until_reset),
        )
        await notifications.queue(uow.outbox, [message], now_us=event.at_us, config=self._config)

    async def pin_changed(self, event: PinChanged, uow: ReceiptContext) -> None:
        user = event.user
        message = notifications.sms(f"pin-changed:{user.id}:{event.at_us}", "owner", user, notifications.PIN_CHANGED)
        await notifications.queue(uow.outbox, [message], now_us=event.at_us, config=self._config)

    async def pin_reset(self, event: PinReset, uow: ReceiptContext) -> None:
        user = event.user
        until = local_text(user.hold_until, self._config.local_utc_offset_s)
        message = notifications.sms(
            f"pin-reset:{user.id}:{event.at_us}",
            "owner",
            user,
            notifications.PIN_RESET,
            pin=event.one_time_pin,
            until=until,
        )
        await notifications.queue(uow.outbox, [message], now_us=event.at_us, config=self._config)
