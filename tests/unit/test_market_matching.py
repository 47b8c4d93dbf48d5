"""Matching, as a trader sees it: who fills first, at what price, what is left, and what a fill costs."""

from __future__ import annotations

from engine.identity.model import Language, User
from engine.ledger.model import Ledger, Transfer, TransferFlags
from engine.markets.book import OrderBook, fill_orders
from engine.markets.matching import buy_reservation, fill_amounts
from engine.markets.model import OrderState, Side, money_of
from engine.markets.settlement import MARKET_ROUNDING, escrow_id, fill_transfers
from tests.support.naive_book import CLUSTER, limit_order

ALICE, BWALYA, CHOLA, DAVID = 1, 2, 3, 4


def test_the_cheapest_offer_fills_first_even_when_it_came_later() -> None:
    book = OrderBook()
    book.submit(limit_order(1, ALICE, Side.SELL, 125, 1_000))
    book.submit(limit_order(2, BWALYA, Side.SELL, 118, 1_000))
    result = book.submit(limit_order(3, CHOLA, Side.BUY, 130, 500))
    assert [(f.sell.id, f.price, f.wh) for f in result.fills] == [("op-2", 118, 500)]


def test_at_one_price_the_earlier_order_fills_first() -> None:
    book = OrderBook()
    book.submit(limit_order(1, ALICE, Side.BUY, 120, 1_000))
    book.submit(limit_order(2, BWALYA, Side.BUY, 120, 1_000))
    result = book.submit(limit_order(3, CHOLA, Side.SELL, 110, 1_500))
    assert [(f.buy.id, f.wh) for f in result.fills] == [("op-1", 1_000), ("op-2", 500)]
    assert [(o.id, o.remaining_wh, o.state) for o in book.resting(Side.BUY)] == [("op-2", 500, OrderState.PARTIAL)]


def test_a_fill_is_at_the_resting_orders_price_so_a_high_bid_pays_the_ask() -> None:
    book = OrderBook()
    book.submit(limit_order(1, ALICE, Side.SELL, 118, 2_000))
    result = book.submit(limit_order(2, BWALYA, Side.BUY, 130, 2_000))
    (fill,) = result.fills
    assert (fill.price, fill.amounts.buyer_pays, fill.amounts.seller_gets) == (118, 236, 236)
    assert result.order.state is OrderState.FILLED
    assert result.order.reserved == 0


def test_an_incoming_sell_gets_the_resting_bid_not_its_lower_ask() -> None:
    book = OrderBook()
    book.submit(limit_order(1, ALICE, Side.BUY, 124, 1_000))
    (fill,) = book.submit(limit_order(2, BWALYA, Side.SELL, 100, 1_000)).fills
    assert (fill.price, fill.amounts.seller_gets) == (124, 124)


def test_a_big_buy_walks_the_offers_up_to_its_bid_and_rests_the_rest() -> None:
    book = OrderBook()
    for seq, price in enumerate((117, 119, 121, 126), 1):
        book.submit(limit_order(seq, ALICE + seq, Side.SELL, price, 500))
    result = book.submit(limit_order(9, ALICE, Side.BUY, 121, 2_000))
    assert [f.price for f in result.fills] == [117, 119, 121]
    assert (result.order.id, result.order.remaining_wh, result.order.state) == ("op-9", 500, OrderState.PARTIAL)
    assert (book.best(Side.BUY), book.best(Side.SELL)) == (121, 126)
    assert book.depth(Side.SELL) == [(126, 500, 1)]


def test_a_partly_filled_order_keeps_its_id_and_its_place() -> None:
    book = OrderBook()
    book.submit(limit_order(1, ALICE, Side.SELL, 120, 3_000))
    book.submit(limit_order(2, BWALYA, Side.SELL, 120, 1_000))
    book.submit(limit_order(3, CHOLA, Side.BUY, 120, 1_000))
    (first, second) = book.resting(Side.SELL)
    assert (first.id, first.remaining_wh, first.fills, first.reserved) == ("op-1", 2_000, 1, 2_000)
    assert second.id == "op-2"
    (fill,) = book.submit(limit_order(4, DAVID, Side.BUY, 120, 500)).fills
    assert fill.sell.id == "op-1"


def test_self_trade_prevention_rejects_an_order_that_would_fill_its_owners_own() -> None:
    book = OrderBook()
    book.submit(limit_order(1, ALICE, Side.SELL, 118, 1_000))
    book.submit(limit_order(2, BWALYA, Side.SELL, 119, 1_000))
    result = book.submit(limit_order(3, ALICE, Side.BUY, 125, 2_000))
    assert result.self_trade
    assert not result.fills
    assert (result.order.state, result.order.reason) == (OrderState.REJECTED, "self_trade")
    assert [(o.id, o.remaining_wh) for o in book.resting(Side.SELL)] == [("op-1", 1_000), ("op-2", 1_000)]
    assert book.resting(Side.BUY) == []


def test_self_trade_prevention_after_some_fills_cancels_the_rest_of_the_newer_order() -> None:
    book = OrderBook()
    book.submit(limit_order(1, BWALYA, Side.BUY, 125, 400))
    book.submit(limit_order(2, ALICE, Side.BUY, 122, 1_000))
    book.submit(limit_order(3, CHOLA, Side.BUY, 121, 1_000))  # better than nothing, but behind Alice's own
    result = book.submit(limit_order(4, ALICE, Side.SELL, 120, 2_000))
    assert [(f.buy.id, f.wh) for f in result.fills] == [("op-1", 400)]
    assert (result.order.id, result.order.state, result.order.reason) == ("op-4", OrderState.CANCELLED, "self_trade")
    assert result.order.remaining_wh == 1_600
    assert [o.id for o in book.resting(Side.BUY)] == ["op-2", "op-3"]
    assert book.resting(Side.SELL) == []


def test_an_own_order_that_does_not_cross_does_not_stop_a_trade() -> None:
    book = OrderBook()
    book.submit(limit_order(1, ALICE, Side.SELL, 130, 1_000))
    book.submit(limit_order(2, BWALYA, Side.SELL, 118, 1_000))
    result = book.submit(limit_order(3, ALICE, Side.BUY, 120, 1_000))
    assert not result.self_trade
    assert [(f.sell.id, f.wh) for f in result.fills] == [("op-2", 1_000)]


def test_cancelling_takes_an_order_off_the_book_once() -> None:
    book = OrderBook()
    book.submit(limit_order(1, ALICE, Side.BUY, 120, 1_000))
    book.submit(limit_order(2, BWALYA, Side.BUY, 120, 1_000))
    cancelled = book.cancel("op-1")
    assert cancelled is not None
    assert (cancelled.state, cancelled.reason) == (OrderState.CANCELLED, "user")
    assert book.cancel("op-1") is None
    assert book.cancel("op-404") is None
    assert book.depth(Side.BUY) == [(120, 1_000, 1)]
    assert len(book) == 1
    (fill,) = book.submit(limit_order(3, CHOLA, Side.SELL, 120, 1_000)).fills
    assert fill.buy.id == "op-2"
    assert book.cancel("op-2") is None, "a filled order cannot be cancelled"


def test_a_buy_reserves_its_energy_at_its_bid_plus_the_fee_rounded_up() -> None:
    assert buy_reservation(1_000, 120, 0) == 120
    assert buy_reservation(1_001, 120, 0) == 121  # 120.12 ngwee, rounded up
    assert buy_reservation(1_000, 120, 250) == 123  # 2.5% of 120 = 3 ngwee
    assert buy_reservation(100, 120, 50) == 13  # 12 ngwee, and 0.06 ngwee of fee rounded up to 1


def test_a_buy_split_over_many_small_fills_pays_its_total_rounded_once() -> None:
    book = OrderBook()
    for seq in range(1, 4):
        book.submit(limit_order(seq, seq + 1, Side.SELL, 125, 1))  # three 1 Wh offers: 0.125 ngwee each
    result = book.submit(limit_order(9, ALICE, Side.BUY, 125, 3))
    assert [f.amounts.buyer_pays for f in result.fills] == [1, 0, 0]  # 0.375 ngwee in all: 1 ngwee
    assert [f.amounts.seller_gets for f in result.fills] == [1, 1, 1]  # each seller's own 0.125, rounded up
    assert [f.amounts.rounding for f in result.fills] == [0, 1, 1]  # the market's rounding pays the difference
    assert result.order.money_ngwee == 1


def test_the_fee_over_many_fills_is_the_fee_on_the_total() -> None:
    buy = limit_order(1, ALICE, Side.BUY, 120, 1_000, fee_bps=250)
    fees = []
    for n in range(10):
        sell = limit_order(n + 2, BWALYA, Side.SELL, 120, 100)
        buy, _, fill = fill_orders(buy, sell, 100, 120, 250)
        fees.append(fill.amounts.fee)
    assert sum(fees) == 3
    assert buy.money_ngwee == 120
    assert (buy.state, buy.reserved) == (OrderState.FILLED, 0)


def test_a_buy_filled_below_its_bid_holds_only_what_the_rest_can_cost() -> None:
    book = OrderBook()
    book.submit(limit_order(1, BWALYA, Side.SELL, 100, 1_000))
    result = book.submit(limit_order(2, ALICE, Side.BUY, 120, 2_000))
    assert result.order.money_ngwee == 100
    assert result.order.reserved == 120  # 1 kWh more at its bid: the 20 ngwee saved are back already


def test_a_sellers_money_over_fills_is_never_below_the_ask() -> None:
    sell = limit_order(1, ALICE, Side.SELL, 117, 1_000)
    for n in range(7):
        buy = limit_order(n + 2, BWALYA, Side.BUY, 117, 143)
        wh = min(143, sell.remaining_wh)
        amounts = fill_amounts(buy, sell, wh, 117, 0)
        _, sell, _ = fill_orders(buy, sell, wh, 117, 0)
        assert amounts.seller_gets >= 0
    assert sell.filled_wh == 1_000
    assert sell.money_ngwee == money_of(1_000 * 117)


def trader(user: int) -> User:
    return User(id=user, phone=f"+26097700000{user}", name=f"Trader {user}", language=Language.ENGLISH, pin_hash="h")


def settle(live: set[str], transfers: list[Transfer]) -> set[str]:
    """The reservations ``transfers`` post or void (they must be live) and the live ones after them."""
    named = {
        t.pending_id or "" for t in transfers if t.flags & (TransferFlags.POST_PENDING | TransferFlags.VOID_PENDING)
    }
    assert named <= live, f"the batch names reservations that were never made: {named - live}"
    return (live - named) | {t.id for t in transfers if t.flags & TransferFlags.PENDING}


def test_a_bid_whose_last_wh_cost_nothing_more_still_settles() -> None:
    # 999 of 1,000 Wh at K1.20/kWh already cost the whole K1.20: the bid holds nothing, 1 Wh is left.
    bid = limit_order(1, ALICE, Side.BUY, 120, 1_000)
    first_ask, last_ask = limit_order(2, BWALYA, Side.SELL, 120, 999), limit_order(3, CHOLA, Side.SELL, 119, 100)
    book = OrderBook()
    book.submit(bid)
    live = {bid.reservation_id, first_ask.reservation_id}
    (first,) = book.submit(first_ask).fills
    first_ask, bid, _ = fill_orders(first_ask, bid, 999, 120, 0)
    assert (bid.remaining_wh, bid.reserved, bid.money_ngwee) == (1, 0, 120)
    live = settle(live, fill_transfers(first, buy_after=bid, sell_after=first_ask, buyer=trader(ALICE),
                                       seller=trader(BWALYA), trade_id="t1", reference="MT1", now_us=1))  # fmt: skip
    assert not any(r.startswith("op-1:") for r in live), "nothing is left to hold for the last Wh"
    # The last Wh fills for no more money: the ledger would refuse a batch voiding a reservation never made.
    live.add(last_ask.reservation_id)
    (last,) = book.submit(last_ask).fills
    last_ask, bid, _ = fill_orders(last_ask, bid, 1, 120, 0)
    assert (last.amounts.buyer_pays, last.amounts.seller_gets, last.amounts.rounding) == (0, 1, 1)
    transfers = fill_transfers(last, buy_after=bid, sell_after=last_ask, buyer=trader(ALICE), seller=trader(CHOLA),
                               trade_id="t2", reference="MT2", now_us=2)  # fmt: skip
    settle(live, transfers)
    moved = {t.credit_account_id for t in transfers} | {t.debit_account_id for t in transfers}
    assert {MARKET_ROUNDING, escrow_id(CLUSTER, Ledger.ZMW)} <= moved  # the market pays the seller's ngwee
