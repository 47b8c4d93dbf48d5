"""The engine's composition root: services over one database, and who handles which domain event.

Built once per process by the entry point's bootstrap. Every subscription is
made here, explicitly: a feature that reacts to something that happened (an
SMS receipt today; alerts, audit or risk later) adds a line below instead of
editing a service.
"""

from __future__ import annotations

from engine.access.cache import PrincipalCache
from engine.access.credentials import CredentialHasher
from engine.access.idempotency import IdempotencyService
from engine.access.revocations import TokenRevocations
from engine.access.service import AccessService
from engine.analytics.model import ScreenFunnel, UssdSessionEnd
from engine.coops.config import CoopConfig
from engine.coops.governance import GovernanceService
from engine.coops.membership import REFUND_JOB
from engine.coops.proposals import PROPOSAL_JOB
from engine.coops.receipts import CoopReceipts
from engine.coops.service import CoopService
from engine.energy.carbon import CarbonService
from engine.energy.clusters import ClusterService
from engine.energy.receipts import EnergyReceipts
from engine.identity.ports import PinHasher
from engine.identity.receipts import IdentityReceipts
from engine.identity.users import UserService
from engine.kernel import daily_caps
from engine.kernel.clock import Clock, SystemClock
from engine.kernel.config import EngineConfig
from engine.kernel.events import EventBus
from engine.ledger.accounts import ensure_system_accounts
from engine.ledger.verify import VerifyReport, verify_ledger
from engine.markets.backfill import HistoryWriter
from engine.markets.config import MarketConfig
from engine.markets.orders import OrderService
from engine.markets.prices import SLOT_JOB, PriceService
from engine.markets.receipts import MarketReceipts
from engine.markets.settlement import ROUNDING_ACCOUNT
from engine.markets.slots import SlotCloser
from engine.notifications.ports import OutboxQueue
from engine.payments.accounts import ensure_clearing_accounts
from engine.payments.config import PaymentConfig
from engine.payments.ports import ProviderDirectory
from engine.payments.receipts import PaymentReceipts
from engine.payments.risk import RiskRecorder
from engine.payments.service import NoProviders, PaymentService
from engine.payments.transfers import MoneyTransfers
from engine.scheduler.model import Job, RetryPolicy
from engine.scheduler.runner import Scheduler
from engine.trading.offers import OfferService
from engine.trading.receipts import TradingReceipts
from engine.trading.trades import TradingService
from engine.uow import Database, UnitOfWork, UnitsOfWork
from engine.wallet.views import WalletService


def event_bus(config: EngineConfig, principals: PrincipalCache | None = None) -> EventBus[UnitOfWork]:
    """Every domain event's handlers, subscribed explicitly (``principals``: the process's remembered sign-ins)."""
    bus: EventBus[UnitOfWork] = EventBus()
    IdentityReceipts(config).subscribe(bus)
    EnergyReceipts(config).subscribe(bus)
    TradingReceipts(config).subscribe(bus)
    PaymentReceipts(config).subscribe(bus)
    CoopReceipts(config).subscribe(bus)
    MarketReceipts(config).subscribe(bus)
    RiskRecorder().subscribe(bus)  # large first withdrawals, many senders: kept for the risk engine
    TokenRevocations(principals or PrincipalCache()).subscribe(bus)  # a new PIN signs the user out of the API
    return bus


class Platform:
    def __init__(
        self,
        database: Database,
        config: EngineConfig,
        hasher: PinHasher,
        clock: Clock | None = None,
        bus: EventBus[UnitOfWork] | None = None,
        providers: ProviderDirectory | None = None,
        payments: PaymentConfig | None = None,
        coops: CoopConfig | None = None,
        retries: RetryPolicy | None = None,
        market: MarketConfig | None = None,
    ) -> None:
        self._database = database
        self.config = config
        self.clock = clock or SystemClock()
        principals = PrincipalCache()
        self.bus = bus or event_bus(config, principals)
        units = UnitsOfWork(database, self.bus)
        self.users = UserService(units, config, self.clock, hasher)
        self.wallet = WalletService(units.reads, config)
        self.trading = TradingService(units, config, self.clock)
        self.offers = OfferService(units, config, self.clock, self.trading)
        self.clusters = ClusterService(units, config, self.clock)
        self.carbon = CarbonService(units.reads, config)
        credentials = CredentialHasher(config.pin_pepper)
        self.access = AccessService(units, self.clock, credentials, self.users, principals)
        self.idempotency = IdempotencyService(units, self.clock, credentials)
        payment_config = payments or PaymentConfig()
        directory = providers or NoProviders()
        self.payments = PaymentService(units, config, payment_config, self.clock, self.users, directory)
        self.money = MoneyTransfers(units, config, payment_config, self.clock, self.users)
        coop_config = coops or CoopConfig()
        self.coops = CoopService(units, config, coop_config, self.clock, self.users)
        self.governance = GovernanceService(units, coop_config, self.clock, self.users)
        market_config = market or MarketConfig()
        self.prices = PriceService(units, config, market_config, self.clock, self.users)
        self.orders = OrderService(units, config, market_config, self.clock, self.users, self.prices)
        self.price_history = HistoryWriter(units, market_config, offset_s=config.local_utc_offset_s)
        self._slots = SlotCloser(units, market_config, self.clock, self.prices, self.orders)
        self.scheduler = Scheduler(database.job_queue, self.clock, retries)
        self._register_jobs()

    def _register_jobs(self) -> None:
        """Every kind of scheduled work and its handler, registered explicitly (scheduled trades join here)."""

        async def advance_proposal(job: Job) -> int | None:
            return await self.governance.advance(job.key)

        async def pay_refunds(job: Job) -> int | None:
            return await self.coops.pay_due_refunds(str(job.payload["coop"]))

        async def close_market_slot(job: Job) -> int | None:
            return await self._slots.close_slot(job.key)

        self.scheduler.register(PROPOSAL_JOB, advance_proposal)
        self.scheduler.register(REFUND_JOB, pay_refunds)
        self.scheduler.register(SLOT_JOB, close_market_slot)

    @property
    def backend(self) -> str:
        """Which database this platform runs on (``sqlite``, ``postgres``, ``memory``)."""
        return self._database.backend

    @property
    def store(self) -> Database:
        """The database itself, for tests only: entry points go through the services (a layer test checks)."""
        return self._database

    @property
    def sms_outbox(self) -> OutboxQueue:
        """The outbox's delivery side, for the SMS worker (each call its own short transaction)."""
        return self._database.outbox_queue

    async def bootstrap(self) -> None:
        """Create the platform's system accounts if they are missing (idempotent)."""
        await ensure_system_accounts(self._database.ledger)
        await ensure_clearing_accounts(self._database.ledger)
        await self._database.ledger.create_accounts([ROUNDING_ACCOUNT])

    async def verify_ledger(self) -> VerifyReport:
        return await verify_ledger(self._database.ledger)

    async def check_database(self) -> None:
        """One cheap read; raises whatever the database raises when it cannot answer (for /health)."""
        await self._database.ledger.chain_head()

    async def ledger_length(self) -> int:
        """How many transfers the ledger has applied (its hash chain's last sequence number)."""
        seq, _hash = await self._database.ledger.chain_head()
        return seq

    async def expire_reservations(self, *, limit: int = 1000) -> int:
        return await self._database.ledger.expire_pending_transfers(limit=limit)

    async def forget_old_counters(self) -> int:
        """Drop daily counters nobody reads any more (kept a week)."""
        now, offset = self.clock.now_us(), self.config.local_utc_offset_s
        return await self._database.atomic(
            lambda repositories: daily_caps.forget_old(repositories.counters, now_us=now, offset_s=offset)
        )

    async def record_ussd_end(self, event: UssdSessionEnd) -> bool:
        """Keep the gateway's end-of-session notification (once per session) for the funnel."""
        return await self._database.analytics.record_ussd_end(event)

    async def ussd_funnel(self) -> list[ScreenFunnel]:
        return await self._database.analytics.ussd_funnel()

    async def close(self) -> None:
        await self._database.close()
