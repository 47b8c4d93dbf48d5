"""What the grid (ZESCO) would have charged for the same energy, and what a user saved against it.

ZESCO's residential tariff is a monthly cumulative block tariff set by the Energy Regulation
Board (ERB): the first 100 kWh of a month at one rate, the next band at another, and so on; the
count starts again on the 1st. Its schedule changes with ERB decisions, so it is kept here
effective-dated, each entry with where its figures come from.

Comparisons are of **energy charges** only. The fixed monthly charge (none for residential
customers at present) is kept apart, and so are VAT and excise duty, which ZESCO adds on top of
these rates: leaving them out makes the grid look cheaper than it is, so a saving shown is never
overstated by them.

Costing is exact and consistent: the banded value of a month's cumulative energy
(``sum(Wh in band x price)``) is rounded once, half up to the ngwee as ``cost_of_energy``
rounds, and the cost of more energy is the rounded cumulative total after it less the rounded
total before it. Costs of successive purchases therefore always add up to the cost of the whole
month, to the ngwee (costing each band's part separately would round once per part and could
drift by a ngwee per split). Nothing here reads a clock or a database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from itertools import pairwise

from engine.kernel.errors import InvalidAmount
from engine.kernel.units import WH_PER_KWH
from engine.markets.model import MonthlyEnergy
from engine.markets.months import month_iso


@dataclass(frozen=True, slots=True)
class GridBand:
    """One block of a month's consumption: up to ``up_to_wh`` cumulative (None: everything above)."""

    up_to_wh: int | None  # cumulative upper bound of the month's energy, in Wh
    price: int  # ngwee per kWh


@dataclass(frozen=True, slots=True)
class GridTariff:
    """A block tariff from ``effective_from`` (ISO date) until the next one, with its source."""

    effective_from: str
    bands: tuple[GridBand, ...]  # lowest first; the last has no upper bound
    fixed_monthly_ngwee: int  # kept apart from energy charges (see the module)
    source: str  # ends in "(check)" where a figure could not be confirmed
    source_date: str  # ISO date of the source

    def __post_init__(self) -> None:
        date.fromisoformat(self.effective_from)  # refuses a malformed date at import, not at use
        if not self.bands or self.bands[-1].up_to_wh is not None:
            raise ValueError("a grid tariff's last band must have no upper bound")
        bounds = [b.up_to_wh for b in self.bands[:-1] if b.up_to_wh is not None]
        if len(bounds) != len(self.bands) - 1:
            raise ValueError("only the last band may have no upper bound")
        if any(b <= 0 for b in bounds) or any(x >= y for x, y in pairwise(bounds)):
            raise ValueError("band bounds must be positive and increasing")
        if any(b.price < 0 for b in self.bands) or self.fixed_monthly_ngwee < 0:
            raise ValueError("grid prices must not be negative")
        if not self.source.strip():
            raise ValueError("a grid tariff needs its source")


_KWH = WH_PER_KWH

# ZESCO residential (R) tariffs, energy charges before VAT and excise duty, oldest first.
#
# Found with the sources below on 2025-11 news of the ERB decision; the ERB's own schedule was
# not found, so the bands nobody reported are marked "(check)". The 2020 restructuring scrapped
# the residential fixed charge (K18.23 a month before): none since (zambianobserver.com,
# "New ZESCO tariffs explained", 2020-01-26: "fixed charges ... abolished as well") (check).
ZESCO_RESIDENTIAL: tuple[GridTariff, ...] = (
    # The emergency tariff, 1 Nov 2024 to 31 Oct 2025 (ERB approval of 2024-10-11). Confirmed: the
    # top rate K6.39/kWh and that the first 200 kWh cost what they cost after it. The 201-400 kWh
    # band was not found and is taken to be the 2025 one (the 2025 decision named only the top
    # rate as changed).
    GridTariff(
        effective_from="2024-11-01",
        bands=(
            GridBand(100 * _KWH, 35),
            GridBand(200 * _KWH, 100),
            GridBand(400 * _KWH, 242),
            GridBand(None, 639),
        ),
        fixed_monthly_ngwee=0,
        source=(
            "ERB emergency tariff for ZESCO, 2024-11-01 to 2025-10-31 (zanis.gov.zm 2024-10-11; top rate "
            "K6.39/kWh per diggers.news 2025-11-02 and zambianobserver.com 2025-11-01); bands below the top "
            "as in the 2025 schedule (check)"
        ),
        source_date="2025-11-01",
    ),
    # Back to the multi-year tariff framework's four residential tiers from 1 Nov 2025 (ERB decision
    # on ZESCO's application of 2025-10-10; said to run to 31 Oct 2026). Confirmed by the news: top
    # rate K3.45/kWh (from K6.39, -46%), first 200 kWh unchanged. The lower rates and the 100/200/400
    # kWh bounds come from a public bill calculator, not from the ERB schedule.
    GridTariff(
        effective_from="2025-11-01",
        bands=(
            GridBand(100 * _KWH, 35),
            GridBand(200 * _KWH, 100),
            GridBand(400 * _KWH, 242),
            GridBand(None, 345),
        ),
        fixed_monthly_ngwee=0,
        source=(
            "ERB decision effective 2025-11-01 (zambianobserver.com 2025-11-01, diggers.news 2025-11-02, "
            "zambiamonitor.com): top band K3.45/kWh, first 200 kWh unchanged; K0.35/K1.00/K2.42 and the "
            "100/200/400 kWh bounds from a public calculator (check)"
        ),
        source_date="2025-11-01",
    ),
)


def grid_tariff_at(iso_date: str, schedule: Sequence[GridTariff] = ZESCO_RESIDENTIAL) -> GridTariff:
    """The tariff in force on ``iso_date``: the latest effective on or before it.

    Before every entry, the oldest: a comparison needs some grid price, and the earliest known
    is the closest to it.
    """
    if not schedule:
        raise ValueError("an empty grid tariff schedule")
    day = date.fromisoformat(iso_date)
    in_force = [t for t in schedule if date.fromisoformat(t.effective_from) <= day]
    if not in_force:
        return min(schedule, key=lambda t: date.fromisoformat(t.effective_from))
    return max(in_force, key=lambda t: date.fromisoformat(t.effective_from))


def grid_tariff_for_month(month: int, schedule: Sequence[GridTariff] = ZESCO_RESIDENTIAL) -> GridTariff:
    """The tariff of local month ``month`` (``yyyymm``): the one in force on its 1st (ERB changes start on a 1st)."""
    return grid_tariff_at(month_iso(month), schedule)


def banded_value(total_wh: int, tariff: GridTariff) -> int:
    """``sum(Wh in each band x its price)`` for a month's cumulative ``total_wh``: exact, in ngwee x 1,000."""
    value = 0
    lower = 0
    for band in tariff.bands:
        upper = total_wh if band.up_to_wh is None else min(total_wh, band.up_to_wh)
        if upper <= lower:
            break
        value += (upper - lower) * band.price
        lower = upper
    return value


def month_energy_cost(total_wh: int, tariff: GridTariff) -> int:
    """The energy charges of a month's ``total_wh``, rounded once, half up, as ``cost_of_energy`` rounds."""
    if total_wh < 0:
        raise InvalidAmount("energy must not be negative")
    return (banded_value(total_wh, tariff) + WH_PER_KWH // 2) // WH_PER_KWH


def grid_cost(wh: int, tariff: GridTariff, *, already_wh: int = 0) -> int:
    """Ngwee the grid charges for ``wh`` more this month after ``already_wh`` (energy charges only).

    The month's rounded cost after, less its rounded cost before: never negative, within a
    ngwee of the exact banded value, and ``grid_cost(a) + grid_cost(b, already_wh=a) ==
    grid_cost(a + b)`` exactly.
    """
    if wh < 0 or already_wh < 0:
        raise InvalidAmount("energy must not be negative")
    return month_energy_cost(already_wh + wh, tariff) - month_energy_cost(already_wh, tariff)


@dataclass(frozen=True, slots=True)
class Savings:
    """A month's energy on the platform against what ZESCO would have charged for it."""

    month: int  # yyyymm
    wh: int
    paid_ngwee: int  # fees included
    grid_ngwee: int  # ZESCO's energy charges for the same Wh (fixed charge, VAT and excise apart)
    saved_ngwee: int  # grid - paid; negative: the user paid more than the grid would have charged
    tariff_effective_from: str
    tariff_source: str
    tariff_source_date: str

    @property
    def paid_more(self) -> bool:
        """Shown, never hidden: the market cost more than the grid this month."""
        return self.saved_ngwee < 0


def savings(month: MonthlyEnergy, tariff: GridTariff) -> Savings:
    """What ``month`` saved against ``tariff``, as if its energy were the household's whole grid month.

    The grid bands start from zero: a household that also draws from the grid would have been
    in dearer bands, so this understates a saving rather than inflating it.
    """
    grid = grid_cost(month.wh, tariff)
    return Savings(
        month=month.month,
        wh=month.wh,
        paid_ngwee=month.ngwee,
        grid_ngwee=grid,
        saved_ngwee=grid - month.ngwee,
        tariff_effective_from=tariff.effective_from,
        tariff_source=tariff.source,
        tariff_source_date=tariff.source_date,
    )
