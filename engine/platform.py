"""One object that wires the engine's services over a store (built once per process)."""

from __future__ import annotations

from engine import daily_caps
from engine.accounts import ensure_system_accounts
from engine.carbon import CarbonService
from engine.clock import Clock, SystemClock
from engine.clusters import ClusterService
from engine.config import EngineConfig
from engine.ledger.verify import VerifyReport, verify_ledger
from engine.offers import OfferService
from engine.ports import Store
from engine.trading import TradingService
from engine.users import UserService
from engine.wallet import WalletService


class Platform:
    def __init__(self, store: Store, config: EngineConfig, clock: Clock | None = None) -> None:
        self.store = store
        self.config = config
        self.clock = clock or SystemClock()
        self.users = UserService(store, config, self.clock)
        self.wallet = WalletService(store, config)
        self.trading = TradingService(store, config, self.clock)
        self.offers = OfferService(store, config, self.clock, self.trading)
        self.clusters = ClusterService(store, config, self.clock)
        self.carbon = CarbonService(store, config)

    async def bootstrap(self) -> None:
        """Create the platform's system accounts if they are missing (idempotent)."""
        await ensure_system_accounts(self.store)

    async def verify_ledger(self) -> VerifyReport:
        return await verify_ledger(self.store)

    async def expire_reservations(self, *, limit: int = 1000) -> int:
        return await self.store.expire_pending_transfers(limit=limit)

    async def forget_old_counters(self) -> int:
        """Drop daily counters nobody reads any more (kept a week)."""
        now, offset = self.clock.now_us(), self.config.local_utc_offset_s
        return await self.store.atomic(lambda tx: daily_caps.forget_old(tx, now_us=now, offset_s=offset))
