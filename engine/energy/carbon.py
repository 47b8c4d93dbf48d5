"""Carbon savings from renewable energy acquired on the platform.

Assumptions (all configurable in :class:`EngineConfig`): each renewable kWh
displaces 0.8 kg CO2 — the spec's figure, which fits diesel generation; it
would be ~0.11 kg against Zambia's hydro-heavy grid average. A tree seedling
grown for ten years stores ~60 kg CO2; a car emits ~0.40 kg CO2 per mile.

A user's energy acquired is what entered their energy wallet (from clusters,
trades or gifts) minus what they passed on to others, so energy is never
counted twice; platform-wide it is the energy delivered out of cluster pools.
Both count settled movement only (:meth:`engine.ports.LedgerReader.sum_transfers`):
energy offered for sale counts when the buyer accepts, once; while it is
reserved, and after a decline or an expiry, it is still the seller's.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.energy.ports import EnergyReads
from engine.identity.model import User
from engine.kernel.config import EngineConfig
from engine.ledger.model import TransferCode

METERS_PER_MILE = 1609.344
_ACQUIRED = (TransferCode.CLUSTER_ENERGY, TransferCode.ENERGY_TRADE, TransferCode.ENERGY_GIFT)
_PASSED_ON = (TransferCode.ENERGY_TRADE, TransferCode.ENERGY_GIFT)


@dataclass(frozen=True, slots=True)
class CarbonReport:
    renewable_wh: int
    co2_grams: int
    trees_tenths: int  # tree seedlings x 10, so 1.5 trees is 15
    car_miles: int
    car_km: int


def format_kg(grams: int) -> str:
    """``1650`` -> ``1.6 kg`` (one decimal, rounded down: savings are never overstated)."""
    tenths = max(grams, 0) // 100
    return f"{tenths // 10:,}.{tenths % 10} kg"


def format_tenths(tenths: int) -> str:
    return f"{tenths // 10:,}.{tenths % 10}"


class CarbonService:
    def __init__(self, reads: EnergyReads, config: EngineConfig) -> None:
        self._reads = reads
        self._config = config

    def report(self, renewable_wh: int) -> CarbonReport:
        wh = max(renewable_wh, 0)
        grams = wh * self._config.carbon_g_per_kwh // 1000
        miles = grams // self._config.car_g_co2_per_mile
        # km = grams / (g per mile) * 1.609344, kept in integers.
        km = grams * 1_609_344 // (self._config.car_g_co2_per_mile * 1_000_000)
        return CarbonReport(wh, grams, grams * 10 // self._config.tree_g_co2, miles, km)

    async def for_user(self, user: User) -> CarbonReport:
        codes = [int(c) for c in _ACQUIRED]
        received = await self._reads.ledger.sum_transfers(codes=codes, credit_account_id=user.kwh_account_id)
        passed_on = await self._reads.ledger.sum_transfers(
            codes=[int(c) for c in _PASSED_ON], debit_account_id=user.kwh_account_id
        )
        return self.report(received - passed_on)

    async def platform(self) -> CarbonReport:
        return self.report(await self._reads.ledger.sum_transfers(codes=[int(TransferCode.CLUSTER_ENERGY)]))
