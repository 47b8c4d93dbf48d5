"""A market world for tests: clusters, traders with money and energy, orders placed with their PINs.

The book's invariants, checked against the ledger, are in :mod:`tests.support.market_checks`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.identity.model import PinProof, User
from engine.identity.ports import PinHasher
from engine.kernel.clock import Clock, ManualClock
from engine.kernel.config import EngineConfig
from engine.ledger.accounts import ENERGY_ISSUANCE, PROMOTIONS
from engine.ledger.model import CreateTransferResult, Ledger, Transfer
from engine.markets.config import MarketConfig
from engine.markets.model import Order, Side
from engine.markets.orders import Placement
from engine.platform import Platform
from engine.scheduler.runner import RunReport
from engine.uow import Database as Store
from tests.support.jobs import run_until_idle
from tests.support.market_checks import BookSummary, Funding, check_markets

PIN = "5173"
# The tests' engine settings (tests/conftest.py's, which support modules may not import), caps out of the way.
CONFIG = EngineConfig(
    pin_kdf_log2_n=10, pin_pepper=b"test-pepper-0123456789", starting_credit_ngwee=0, sms_daily_cap=1000
)
BASE_PRICE = 250  # ngwee/kWh: the default tariff's band is then 187..375
DEAR_PRICE = 1_180  # above K10/kWh a Wh is worth more than a ngwee: other roundings


def letters(n: int) -> str:
    """A name-safe tag for the n-th test user (names hold letters only)."""
    out = ""
    while True:
        n, digit = divmod(n, 26)
        out = chr(ord("a") + digit) + out
        if not n:
            return out.capitalize()


def trader_phone(n: int, prefix: str = "+26096") -> str:
    """The phone of a world's n-th trader (from 1)."""
    return f"{prefix}{n:07d}"


def market_platform(store: Store, clock: Clock, hasher: PinHasher, *, fee_bps: int = 0) -> Platform:
    return Platform(store, CONFIG, hasher, clock, market=MarketConfig(fee_bps=fee_bps))


@dataclass
class MarketWorld:
    platform: Platform
    clock: Clock
    fee_bps: int = 0
    phone_prefix: str = "+26096"
    users: list[User] = field(default_factory=list)
    clusters: list[str] = field(default_factory=list)
    funded: dict[int, Funding] = field(default_factory=dict)

    @classmethod
    async def open(
        cls, store: Store, clock: Clock, hasher: PinHasher, *, fee_bps: int = 0, phone_prefix: str = "+26096"
    ) -> MarketWorld:
        platform = market_platform(store, clock, hasher, fee_bps=fee_bps)
        await platform.bootstrap()
        return cls(platform, clock, fee_bps, phone_prefix)

    @property
    def manual_clock(self) -> ManualClock:
        assert isinstance(self.clock, ManualClock)
        return self.clock

    async def cluster(self, cluster_id: str, *, price: int = BASE_PRICE) -> str:
        await self.platform.clusters.create(
            cluster_id=cluster_id, name=cluster_id.replace("-", " ").title(), kind="micro", region="Central",
            capacity_wh=40_000, price_ngwee_per_kwh=price,
        )  # fmt: skip
        self.clusters.append(cluster_id)
        return cluster_id

    async def band(self, cluster_id: str) -> tuple[int, int]:
        """The cluster's (floor, cap) now."""
        tariff = await self.platform.prices.tariff(cluster_id)
        return tariff.floor, tariff.cap

    async def trader(self, *, ngwee: int = 0, wh: int = 0) -> User:
        n = len(self.users) + 1
        user = await self.platform.users.register(
            phone=trader_phone(n, self.phone_prefix), name=f"Trader {letters(n)}", language="en", pin=PIN
        )
        self.users.append(user)
        self.funded[user.id] = Funding()
        await self.fund(user, ngwee=ngwee, wh=wh)
        return user

    async def fund(self, user: User, *, ngwee: int = 0, wh: int = 0) -> None:
        """Money from promotions and energy from issuance, straight into the trader's wallets."""
        n = self.funded[user.id].transfers
        transfers = []
        if ngwee:
            transfers.append(Transfer(f"fund:{user.id}:{n}:zmw", PROMOTIONS, user.zmw_account_id, ngwee))
        if wh:
            transfers.append(
                Transfer(f"fund:{user.id}:{n}:kwh", ENERGY_ISSUANCE, user.kwh_account_id, wh, ledger=Ledger.KWH)
            )
        results = await self.platform.store.ledger.create_transfers(transfers)
        assert results == [CreateTransferResult.OK] * len(transfers)
        before = self.funded[user.id]
        self.funded[user.id] = Funding(before.ngwee + ngwee, before.wh + wh, n + 1)

    async def proof(self, user: User) -> PinProof:
        return await self.platform.users.verify_pin(user, PIN)

    async def place(
        self,
        user: User,
        cluster_id: str,
        side: Side,
        wh: int,
        price: int,
        *,
        slot_start_us: int | None = None,
        good_for_day: bool = False,
        operation_id: str | None = None,
        proof: PinProof | None = None,
    ) -> Placement:
        """Place an order with the owner's PIN (checked now, or ``proof``: concurrent checks count as guesses)."""
        return await self.platform.orders.place(
            proof or await self.proof(user), user, cluster_id, side, wh, price,
            slot_start_us=slot_start_us, good_for_day=good_for_day, operation_id=operation_id,
        )  # fmt: skip

    async def cancel(self, user: User, order_id: str, *, proof: PinProof | None = None) -> Order:
        return await self.platform.orders.cancel(proof or await self.proof(user), user, order_id)

    async def available(self, user: User) -> tuple[int, int]:
        """(ngwee, Wh) the trader can still reserve."""
        accounts = await self.platform.store.ledger.lookup_accounts([user.zmw_account_id, user.kwh_account_id])
        return accounts[user.zmw_account_id].available, accounts[user.kwh_account_id].available

    async def run_jobs(self) -> RunReport:
        """Run every job due now, until none is (a slot job with more due than a batch runs again at once)."""
        return await run_until_idle(self.platform.scheduler)

    async def wait(self, seconds: float) -> RunReport:
        """Let time pass and the slot jobs catch up."""
        self.manual_clock.advance(seconds)
        return await self.run_jobs()

    async def check(self, *, swept: bool = True) -> BookSummary:
        """Every invariant of the book and its ledger (see market_checks); ``swept``: the slot jobs ran."""
        return await check_markets(
            self.platform.store,
            users=self.users,
            clusters=self.clusters,
            funded=self.funded,
            fee_bps=self.fee_bps,
            now_us=self.clock.now_us(),
            swept=swept,
        )
