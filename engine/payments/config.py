"""The payments context's configuration: KYC tier limits (with their source), providers by number, polling.

Every figure a regulator sets carries where it came from and when, so an
operator can check it against the directive in force before going live.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from engine.payments.model import Provider

NGWEE_PER_KWACHA = 100
_K = NGWEE_PER_KWACHA


@dataclass(frozen=True, slots=True)
class TierLimits:
    """What one KYC tier may move, in ngwee; pending and successful payments both count."""

    tier: int
    per_transaction: int
    per_day: int
    per_month: int
    balance_cap: int  # the wallet may never hold more (deposits pending included)
    source: str  # where the figures come from, and whether an operator must confirm them
    as_of: str  # the date of that source (ISO)


_BOZ = "Bank of Zambia, National Payment Systems Directives on Electronic Money Issuance, 2020"
_CONFIRM = "to be confirmed by the operator against the directive in force"

# Tier 1's daily limit and wallet cap are the directive's figures as our product brief cites them;
# the per-transaction and monthly figures, and tiers 2 and 3, are our assumptions in the same spirit.
DEFAULT_TIERS: Mapping[int, TierLimits] = {
    1: TierLimits(
        1, 10_000 * _K, 20_000 * _K, 200_000 * _K, 100_000 * _K, f"{_BOZ} (daily, cap); {_CONFIRM}", "2020-01-01"
    ),
    2: TierLimits(
        2, 25_000 * _K, 50_000 * _K, 500_000 * _K, 250_000 * _K, f"assumed from {_BOZ}; {_CONFIRM}", "2020-01-01"
    ),
    3: TierLimits(
        3, 50_000 * _K, 100_000 * _K, 1_000_000 * _K, 500_000 * _K, f"assumed from {_BOZ}; {_CONFIRM}", "2020-01-01"
    ),
}

# Zambian mobile numbers by network, after +260 (096/076 MTN, 097/077 Airtel, 095/075 Zamtel).
DEFAULT_PREFIXES: Mapping[str, Provider] = {
    "96": Provider.MTN,
    "76": Provider.MTN,
    "97": Provider.AIRTEL,
    "77": Provider.AIRTEL,
    "95": Provider.ZAMTEL,
    "75": Provider.ZAMTEL,
}

# When the worker asks a provider again about a payment that has not ended: about 5 s,
# 15 s, 1 min, 5 min, 30 min, then hourly; after give_up_after_s it waits for an operator.
DEFAULT_POLL_SCHEDULE_S = (5, 15, 60, 300, 1800, 3600)


@dataclass(frozen=True, slots=True)
class PaymentConfig:
    tiers: Mapping[int, TierLimits] = field(default_factory=lambda: dict(DEFAULT_TIERS))
    prefixes: Mapping[str, Provider] = field(default_factory=lambda: dict(DEFAULT_PREFIXES))
    poll_schedule_s: tuple[int, ...] = DEFAULT_POLL_SCHEDULE_S
    give_up_after_s: int = 24 * 3600
    # How long a worker holds a claimed payment: longer than any provider call it makes.
    lease_s: int = 60
    min_amount_ngwee: int = 1 * _K
    # Recorded for the risk engine (nothing is refused on them yet).
    large_first_withdrawal_ngwee: int = 1_000 * _K
    many_senders: int = 5  # different senders to one wallet within a day
    note: str = "Enerlectra"  # what the provider shows the user beside our reference

    def tier(self, tier: int) -> TierLimits:
        """The limits of ``tier`` (an unknown tier gets the lowest: never more than we know we may allow)."""
        return self.tiers.get(tier) or self.tiers[min(self.tiers)]

    def provider_for(self, phone: str) -> Provider | None:
        """The network of a Zambian mobile number in E.164 (``+26096...``), by its prefix."""
        national = phone.removeprefix("+260")
        if national == phone:
            return None
        return self.prefixes.get(national[:2])

    def next_check_delay_s(self, checks: int) -> int:
        """Seconds until the next status check after ``checks`` of them."""
        schedule = self.poll_schedule_s
        return schedule[min(checks, len(schedule) - 1)]
