"""The mini-statement: one line per operation, saying what happened and with whom, on both backends."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.identity.model import User
from engine.kernel.clock import ManualClock
from engine.platform import Platform
from engine.wallet.views import StatementKind, StatementLine, short_name
from tests.conftest import TEST_HASHER

MWILA, CHIPO = "+260977123456", "+260966123456"
PIN = "6047"
K = StatementKind


def seen(lines: list[StatementLine]) -> list[tuple[StatementKind, str, int, int]]:
    return [(line.kind, line.counterparty, line.wh, line.ngwee) for line in lines]


@pytest.fixture
async def history(platform: Platform, clock: ManualClock) -> tuple[User, User, int]:
    """A day of business between Mwila and Chipo, with a 1% fee; returns when the offer was accepted."""
    mwila = await platform.users.register(phone=MWILA, name="Mwila Banda", language="bem", pin=PIN)
    chipo = await platform.users.register(phone=CHIPO, name="Chipo Phiri", language="ny", pin=PIN)
    await platform.clusters.create(
        cluster_id="lsk-kabulonga",
        name="Kabulonga Micro-Grid",
        kind="micro",
        region="Lusaka",
        capacity_wh=10_000,
        price_ngwee_per_kwh=105,
    )
    fees = Platform(platform.store, replace(platform.config, trade_fee_bps=100), TEST_HASHER, clock)
    clock.advance(60)
    await platform.clusters.buy(buyer=mwila, cluster_id="lsk-kabulonga", wh=3000)
    clock.advance(60)
    await platform.trading.trade(seller=mwila, buyer_phone=CHIPO, wh=1000, price_ngwee_per_kwh=0)
    clock.advance(60)
    sale = await fees.offers.offer(seller=mwila, buyer_phone=CHIPO, wh=1000, price_ngwee_per_kwh=120)
    declined = await fees.offers.offer(seller=mwila, buyer_phone=CHIPO, wh=500, price_ngwee_per_kwh=120)
    await fees.offers.decline(buyer=chipo, offer_id=declined.id)
    clock.advance(3600)
    accepted_at = clock.now_us()
    await fees.offers.accept(buyer=chipo, offer_id=sale.id)
    clock.advance(60)
    await fees.trading.trade(seller=chipo, buyer_phone=MWILA, wh=500, price_ngwee_per_kwh=126)
    clock.advance(60)
    await fees.offers.offer(seller=mwila, buyer_phone=CHIPO, wh=200, price_ngwee_per_kwh=120)  # still open
    return mwila, chipo, accepted_at


async def test_one_line_per_operation_with_whom_and_the_fee_included(
    platform: Platform, history: tuple[User, User, int]
) -> None:
    mwila, chipo, accepted_at = history

    lines = await platform.wallet.statement(mwila, limit=12)
    assert seen(lines) == [
        (K.BOUGHT, "Chipo P.", 500, -64),  # K0.63 and a 1 ngwee fee
        (K.SOLD, "Chipo P.", -1000, 120),  # the accepted offer: the buyer's fee is not the seller's
        (K.GIFT_SENT, "Chipo P.", -1000, 0),
        (K.CLUSTER_PURCHASE, "Kabulonga Micro-Grid", 3000, -315),
        (K.WELCOME_BONUS, "", 0, 500),
    ], "the open and the declined offers are not on it"
    assert lines[1].timestamp == accepted_at, "an offer shows when it was accepted"
    assert len({line.reference for line in lines}) == 5

    assert seen(await platform.wallet.statement(chipo, limit=12)) == [
        (K.SOLD, "Mwila B.", -500, 63),
        (K.BOUGHT, "Mwila B.", 1000, -122),  # K1.20 and a 2 ngwee fee, one line
        (K.GIFT_RECEIVED, "Mwila B.", 1000, 0),
        (K.WELCOME_BONUS, "", 0, 500),
    ]
    balances = await platform.wallet.balances(chipo)
    assert (balances.wh, balances.ngwee) == (1500, 500 + 63 - 122), "the lines add up to the wallet"


async def test_a_short_statement_keeps_each_operation_whole(
    platform: Platform, history: tuple[User, User, int]
) -> None:
    mwila, _, _ = history
    assert seen(await platform.wallet.statement(mwila, limit=2)) == [
        (K.BOUGHT, "Chipo P.", 500, -64),
        (K.SOLD, "Chipo P.", -1000, 120),
    ]


@pytest.mark.parametrize(
    ("name", "shown"),
    [("Chipo Phiri", "Chipo P."), ("Mary Jane banda", "Mary B."), ("Chipo", "Chipo"), ("  ", "")],
)
def test_people_are_shown_by_first_name_and_last_initial(name: str, shown: str) -> None:
    assert short_name(name) == shown
