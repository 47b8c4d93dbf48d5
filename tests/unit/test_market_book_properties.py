"""Properties of the pure order book under random orders and cancels, checked after every step.

- The book equals a naive model (tests/support/naive_book.py): the same fills, in the same order, at
  the same prices, and the same resting orders with the same energy left, best first.
- Never a crossed book; every fill at the resting order's price; no fill between one user's orders,
  and the order that would have made one stops there (rejected, or cancelled after fills).
- Partial fills keep the order's id; energy left = energy ordered - energy filled.
- Money: per fill, what the buyer pays plus the rounding is what the seller gets (rounding -1..1
  ngwee); over an order's fills a buyer never pays more than its bid for the energy, nor fees beyond
  what was reserved, and a seller never receives less than its ask; a live buy order holds the most
  its remaining energy can still cost at its bid (what it reserved less what its fills took, when
  they all were at its bid), a sell order its remaining energy.
- Settlement: each fill's ledger batch leaves the cluster's escrow accounts where they were, names only
  live reservations, and moves exactly the fill's money and energy between the two users.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine.identity.model import Language, User
from engine.ledger.model import Ledger, Transfer, TransferFlags
from engine.markets.book import BookFill, OrderBook, Submitted, fill_orders
from engine.markets.model import Order, OrderState, Side
from engine.markets.settlement import escrow_id, fill_transfers, release, reservation
from tests.support.naive_book import CLUSTER, NaiveBook, limit_order

USERS = 4
FEES_BPS = (0, 50, 250)
# Near-equal sizes make fills that leave a few Wh: where rounding to the ngwee bites.
wh_strategy = st.one_of(st.integers(100, 5_000), st.sampled_from([100, 101, 999, 1_000, 1_001, 1_999, 2_000]))
submit = st.tuples(
    st.just("submit"), st.integers(0, USERS - 1), st.sampled_from(Side), st.integers(115, 125), wh_strategy
)
cancel = st.tuples(st.just("cancel"), st.integers(0, 200), st.just(Side.BUY), st.just(0), st.just(0))
Action = tuple[str, int, Side, int, int]
actions_strategy = st.lists(st.one_of(submit, submit, submit, cancel), min_size=1, max_size=40)
# A resting bid filled to its last Wh at its own price: its reservation is all taken, Wh are left.
USED_UP = [("submit", 0, Side.BUY, 120, 1_000), ("submit", 1, Side.SELL, 120, 999)]
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def money(value: int) -> int:
    """Ngwee for Wh x ngwee/kWh, rounded up (written out again here, not imported)."""
    return -(-value // 1000)


def fee_on(ngwee: int, fee_bps: int) -> int:
    return -(-ngwee * fee_bps // 10_000)


def reservation_of(order: Order, fee_bps: int) -> int:
    if order.side is Side.SELL:
        return order.wh
    cost = money(order.wh * order.price)
    return cost + fee_on(cost, fee_bps)


@dataclass
class Tally:
    """What an order's fills add up to, from the fills alone."""

    placed: Order
    filled: int = 0
    value: int = 0
    money: int = 0  # paid (buy, fee apart) or received (sell)
    fees: int = 0
    fills: int = 0


class Run:
    def __init__(self, fee_bps: int) -> None:
        self.fee_bps = fee_bps
        self.book = OrderBook(fee_bps=fee_bps)
        self.naive = NaiveBook()
        self.tallies: dict[str, Tally] = {}
        self.placed: list[str] = []
        self.seq = 0

    def submit(self, user: int, side: Side, price: int, wh: int) -> tuple[Order, Submitted]:
        self.seq += 1
        order = limit_order(self.seq, user, side, price, wh, fee_bps=self.fee_bps)
        self.tallies[order.id] = Tally(order)
        self.placed.append(order.id)
        result = self.book.submit(order)
        expected = self.naive.submit(order.id, user, side is Side.BUY, price, wh, self.seq)
        assert [(f.buy.id, f.sell.id, f.wh, f.price) for f in result.fills] == [
            (f.buy_id, f.sell_id, f.wh, f.price) for f in expected.fills
        ]
        assert result.self_trade == expected.self_trade
        assert result.order.remaining_wh == expected.remaining
        for fill in result.fills:
            self.check_fill(order, fill)
        self.check_incoming(result)
        return order, result

    def cancel(self, pick: int) -> Order | None:
        if not self.placed:
            return None
        order_id = self.placed[pick % len(self.placed)]
        cancelled = self.book.cancel(order_id)
        assert (cancelled is not None) == self.naive.cancel(order_id)
        if cancelled is not None:
            assert (cancelled.id, cancelled.state, cancelled.reason) == (order_id, OrderState.CANCELLED, "user")
            self.check_version(cancelled)
        return cancelled

    def check_fill(self, incoming: Order, fill: BookFill) -> None:
        maker = fill.sell if incoming.side is Side.BUY else fill.buy
        taker = fill.buy if incoming.side is Side.BUY else fill.sell
        assert taker.id == incoming.id
        assert maker.id != incoming.id
        assert fill.price == maker.price, "a fill is at the resting order's price"
        assert fill.buy.price >= fill.price >= fill.sell.price
        assert fill.buy.user_id != fill.sell.user_id, "no one trades with themselves"
        assert 0 < fill.wh <= min(fill.buy.remaining_wh, fill.sell.remaining_wh)
        for before in (fill.buy, fill.sell):
            self.check_version(before)  # both as they were just before this fill
        a = fill.amounts
        assert a.buyer_pays + a.rounding == a.seller_gets
        assert -1 <= a.rounding <= 1
        assert min(a.buyer_pays, a.seller_gets, a.fee) >= 0
        buy, sell = self.tallies[fill.buy.id], self.tallies[fill.sell.id]
        for tally, got in ((buy, a.buyer_pays), (sell, a.seller_gets)):
            tally.filled += fill.wh
            tally.value += fill.wh * fill.price
            tally.money += got
            tally.fills += 1
        buy.fees += a.fee
        bid, ask = buy.placed, sell.placed
        # Each side's money is its cumulative value rounded once, never a sum of rounded fills.
        assert buy.money == money(buy.value) <= money(buy.filled * bid.price)
        assert buy.fees == fee_on(buy.money, self.fee_bps) <= fee_on(money(bid.wh * bid.price), self.fee_bps)
        assert buy.money + buy.fees <= reservation_of(bid, self.fee_bps)
        assert sell.money == money(sell.value) >= money(sell.filled * ask.price)

    def check_version(self, order: Order) -> None:
        """``order`` (any version the book shows) agrees with what its fills add up to."""
        tally = self.tallies[order.id]
        placed = tally.placed
        assert (order.side, order.price, order.wh, order.user_id, order.seq) == (
            placed.side,
            placed.price,
            placed.wh,
            placed.user_id,
            placed.seq,
        )
        assert order.remaining_wh == placed.wh - tally.filled
        assert (order.filled_value, order.fills, order.fees_ngwee) == (tally.value, tally.fills, tally.fees)
        assert order.money_ngwee == tally.money
        if order.state is OrderState.FILLED:
            assert order.remaining_wh == 0
            assert order.reserved == 0
        elif order.side is Side.SELL:
            assert order.reserved == order.remaining_wh
        else:
            # A buy holds the most its remaining Wh can still cost at its bid (fee included); a fill
            # below the bid gives the difference back at once, so it never holds more than it reserved.
            most = money(tally.value + order.remaining_wh * placed.price)
            assert order.reserved == most + fee_on(most, self.fee_bps) - tally.money - tally.fees
            assert order.reserved + tally.money + tally.fees <= reservation_of(placed, self.fee_bps)
            if tally.value == tally.filled * placed.price:  # every fill at its own bid: nothing given back
                assert order.reserved == reservation_of(placed, self.fee_bps) - tally.money - tally.fees
        if order.state.active:
            assert order.remaining_wh > 0
            assert order.state is (OrderState.PARTIAL if tally.fills else OrderState.OPEN)

    def check_incoming(self, result: Submitted) -> None:
        order = result.order
        self.check_version(order)
        if result.self_trade:
            assert order.reason == "self_trade"
            assert order.state is (OrderState.CANCELLED if result.fills else OrderState.REJECTED)
        elif order.remaining_wh == 0:
            assert order.state is OrderState.FILLED
        else:
            assert order.state is (OrderState.PARTIAL if result.fills else OrderState.OPEN)

    def check_book(self) -> None:
        for side in Side:
            resting = self.book.resting(side)
            assert [(o.id, o.remaining_wh) for o in resting] == self.naive.resting(side is Side.BUY)
            for order in resting:
                self.check_version(order)
        bid, ask = self.book.best(Side.BUY), self.book.best(Side.SELL)
        assert bid is None or ask is None or bid < ask, "the book is never crossed after matching"
        assert len(self.book) == len(self.naive.orders)
        bought = sum(t.filled for t in self.tallies.values() if t.placed.side is Side.BUY)
        sold = sum(t.filled for t in self.tallies.values() if t.placed.side is Side.SELL)
        assert bought == sold


def run_book(actions: list[Action], fee_bps: int) -> Run:
    run = Run(fee_bps)
    for kind, who, side, price, wh in actions:
        if kind == "submit":
            run.submit(who, side, price, wh)
        else:
            run.cancel(who)
        run.check_book()
    return run


@PROPERTY
@given(actions_strategy, st.sampled_from(FEES_BPS))
def test_the_book_matches_like_the_naive_model_and_keeps_every_money_rule(actions: list[Action], fee_bps: int) -> None:
    run_book(actions, fee_bps)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.sampled_from(Side), st.integers(118, 122), wh_strategy), max_size=30))
def test_two_traders_alone_never_fill_each_others_own_orders(orders: list[tuple[int, Side, int, int]]) -> None:
    run = Run(0)
    for who, side, price, wh in orders:
        _, result = run.submit(who, side, price, wh)
        stopped = any(o.user_id == who and o.side is not side for o in run.book.resting(side.opposite))
        if result.self_trade:
            assert stopped, "self-trade prevention stopped it: the owner's own order is there"
        run.check_book()


# --- settlement --------------------------------------------------------------------------------


def person(user: int) -> User:
    return User(id=user + 1, phone=f"+2609770000{user:02d}", name=f"Trader {user}", language=Language.ENGLISH,
                pin_hash="h")  # fmt: skip


class PendingLedger:
    """Balances and live reservations, as two-phase transfers move them (nothing here may overdraw-check)."""

    def __init__(self) -> None:
        self.balance: Counter[str] = Counter()
        self.pending: dict[str, tuple[str, str, int]] = {}

    def apply(self, transfer: Transfer) -> None:
        if transfer.flags & TransferFlags.VOID_PENDING:
            assert transfer.pending_id in self.pending, f"{transfer.id} voids no live reservation"
            del self.pending[transfer.pending_id]
            return
        assert transfer.amount > 0, f"{transfer.id} moves {transfer.amount}"
        if transfer.flags & TransferFlags.POST_PENDING:
            assert transfer.pending_id in self.pending, f"{transfer.id} posts no live reservation"
            debit, credit, amount = self.pending.pop(transfer.pending_id)  # the rest is released
            assert transfer.amount <= amount
        else:
            debit, credit, amount = transfer.debit_account_id, transfer.credit_account_id, transfer.amount
            assert debit != credit
            if transfer.flags & TransferFlags.PENDING:
                assert transfer.id not in self.pending
                self.pending[transfer.id] = (debit, credit, amount)
                return
        self.balance[debit] -= transfer.amount
        self.balance[credit] += transfer.amount

    def live(self, order: Order) -> int:
        return self.pending[order.reservation_id][2] if order.reservation_id in self.pending else 0


def settle(run: Run, ledger: PendingLedger, order: Order, result: Submitted, now: int) -> None:
    """The ledger batches of one submission, each checked as it is applied."""
    incoming = order
    money_escrow, energy_escrow = escrow_id(CLUSTER, Ledger.ZMW), escrow_id(CLUSTER, Ledger.KWH)
    for fill in result.fills:
        maker = fill.sell if order.side is Side.BUY else fill.buy
        incoming, maker_after, again = fill_orders(incoming, maker, fill.wh, fill.price, run.fee_bps)
        assert again == fill
        buy_after, sell_after = (incoming, maker_after) if order.side is Side.BUY else (maker_after, incoming)
        buyer, seller = person(fill.buy.user_id), person(fill.sell.user_id)
        before = Counter(ledger.balance)
        trade_id = f"{CLUSTER}:t{now}-{fill.buy.id}-{fill.sell.id}"
        for transfer in fill_transfers(fill, buy_after=buy_after, sell_after=sell_after, buyer=buyer, seller=seller,
                                       trade_id=trade_id, reference="MT1", now_us=now):  # fmt: skip
            ledger.apply(transfer)
        moved = {k: ledger.balance[k] - before[k] for k in set(ledger.balance) | set(before)}
        a = fill.amounts
        assert moved.get(money_escrow, 0) == 0, "money escrow ends where it began"
        assert moved.get(energy_escrow, 0) == 0, "energy escrow ends where it began"
        assert moved[buyer.zmw_account_id] == -(a.buyer_pays + a.fee)
        assert moved[buyer.kwh_account_id] == fill.wh
        assert moved[seller.kwh_account_id] == -fill.wh
        assert moved.get(seller.zmw_account_id, 0) == a.seller_gets
        for after in (buy_after, sell_after):
            assert ledger.live(after) == (after.reserved if after.remaining_wh > 0 else 0)
    if result.self_trade and result.order.reserved > 0:
        ledger.apply(release(result.order, "stp"))


@PROPERTY
@given(actions_strategy, st.sampled_from(FEES_BPS))
@example([*USED_UP, ("submit", 2, Side.SELL, 119, 100)], 0)  # its last Wh fill for no more money
@example([*USED_UP, ("cancel", 0, Side.BUY, 0, 0)], 50)  # then its owner cancels it
def test_every_fill_settles_through_escrow_and_live_reservations_only(actions: list[Action], fee_bps: int) -> None:
    run, ledger = Run(fee_bps), PendingLedger()
    for now, (kind, who, side, price, wh) in enumerate(actions, 1):
        if kind == "submit":
            order = limit_order(run.seq + 1, who, side, price, wh, fee_bps=fee_bps)
            ledger.apply(reservation(order, person(who), now))
            placed, result = run.submit(who, side, price, wh)
            assert placed == order
            settle(run, ledger, order, result, now)
        else:
            cancelled = run.cancel(who)
            if cancelled is not None:
                assert ledger.live(cancelled) == cancelled.reserved
                if cancelled.reserved > 0:  # an order holding nothing has nothing to release
                    ledger.apply(release(cancelled, "user"))
        for side_ in Side:
            for resting in run.book.resting(side_):
                assert ledger.live(resting) == resting.reserved
    assert sum(ledger.balance.values()) == 0
