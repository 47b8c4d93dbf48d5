"""SMS receipts for energy bought from a cluster."""

from __future__ import annotations

from typing import TypeVar

from engine.energy.events import EnergyBought
from engine.kernel.config import EngineConfig
from engine.kernel.events import EventBus
from engine.notifications import outbox as notifications
from engine.notifications.ports import ReceiptContext

U = TypeVar("U", bound=ReceiptContext)


class EnergyReceipts:
    def __init__(self, config: EngineConfig) -> None:
        self._config = config

    def subscribe(self, bus: EventBus[U]) -> None:
        bus.subscribe(EnergyBought, self.energy_bought)

    async def energy_bought(self, event: EnergyBought, uow: ReceiptContext) -> None:
        """The receipt carries the buyer's balances as they are after the purchase."""
        user = event.buyer
        accounts = await uow.ledger.lookup_accounts([user.kwh_account_id, user.zmw_account_id])
        message = notifications.sms(
            event.operation_id,
            "buyer",
            user,
            notifications.CLUSTER_PURCHASE,
            cluster=event.cluster.name,
            wh=event.wh,
            ngwee=event.cost_ngwee,
            ref=event.reference,
            balance_wh=accounts[user.kwh_account_id].available,
            balance_ngwee=accounts[user.zmw_account_id].available,
        )
        await notifications.queue(uow.outbox, [message], now_us=event.at_us, config=self._config)
