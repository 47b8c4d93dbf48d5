"""A cluster priced at its listed price at every hour, for tests and drills whose numbers are not about the price.

A cluster's price moves with the hour, its pool and its book, and a buyer's
first kWh of a month come at the lifeline price (docs/markets.md). A journey
that checks exact costs (a receipt, a balance) prices its cluster flat: floor,
base and cap at the listed price, no time of use, no lifeline allowance, from
the epoch on, so the slot now is priced by it too. The dynamic price and the
quote have tests of their own (tests/e2e/test_market_ussd*.py, tests/unit/test_market_*.py).
"""

from __future__ import annotations

from engine.platform import Platform


async def flat_price(platform: Platform, cluster_id: str) -> int:
    """Make the cluster's price its listed price at every hour (once per database); the price."""
    price = (await platform.clusters.get(cluster_id)).cluster.price_ngwee_per_kwh
    if any(t.effective_from_us == 0 for t in await platform.prices.tariffs(cluster_id)):
        return price  # made flat already (by another app or platform on the same database)
    await platform.prices.set_tariff(
        cluster_id,
        base=price,
        floor=price,
        cap=price,
        periods=(),
        lifeline_wh=0,
        source="test: the listed price, flat",
        source_date="2026-01-01",
        effective_from_us=0,
    )
    return price
