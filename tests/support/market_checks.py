"""The invariants of a cluster's order book, checked against the ledger that moved its money and energy.

After any sequence of placements, cancels, fills, expiries, retries and crashes:

- per ledger, debits equal credits (posted and pending alike), and the hash chain verifies;
- each market escrow account holds nothing posted, and its pending credits are the ``reserved`` of its
  side's active orders; each trader's pending debits are the ``reserved`` of their active orders;
- each active order's live reservation is a pending transfer of exactly ``reserved``;
- each order's filled energy, value, fills and fees are the sum of its trades; a buy never paid more
  than it reserved, a sell never received less than its ask;
- each trade has exactly its ledger transfers (``<trade id>:energy`` once per trade and vice versa,
  the posts, the payment, the fee), and every trader's wallets equal what they were funded plus
  what their trades moved: no fill lost or counted twice;
- money and energy are conserved across traders, escrow, fees and rounding;
- no two tradeable orders that could match each other cross (the book is never crossed).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from engine.identity.model import User
from engine.kernel.units import basis_points_rounded_up
from engine.ledger.accounts import FEES
from engine.ledger.model import Account, Ledger, PendingStatus, TransferCode, TransferRecord
from engine.ledger.verify import verify_ledger
from engine.markets.matching import buy_reservation
from engine.markets.model import Order, OrderState, Side, Trade, money_of
from engine.markets.settlement import MARKET_ROUNDING, escrow_id
from engine.uow import Database as Store

PAGE = 500


@dataclass(frozen=True)
class Funding:
    """What a trader was given from outside the market."""

    ngwee: int = 0
    wh: int = 0
    transfers: int = 0


@dataclass(frozen=True)
class BookSummary:
    orders: list[Order]
    trades: list[Trade]

    def count(self, *states: OrderState) -> int:
        return sum(1 for o in self.orders if o.state in states)

    @property
    def traded_wh(self) -> int:
        return sum(t.wh for t in self.trades)


async def all_orders(store: Store, users: Sequence[User]) -> list[Order]:
    found: list[Order] = []
    for user in users:
        offset = 0
        while True:
            page = await store.markets.orders_for_user(user.id, states=None, limit=PAGE, offset=offset)
            found += page
            if len(page) < PAGE:
                break
            offset += PAGE
    return found


async def all_trades(store: Store, cluster_id: str) -> list[Trade]:
    found: list[Trade] = []
    before: int | None = None
    while True:
        page = await store.markets.trades(cluster_id, limit=PAGE, before_seq=before)
        found += page
        if len(page) < PAGE:
            return found[::-1]
        before = page[-1].seq


async def all_accounts(store: Store) -> list[Account]:
    found: list[Account] = []
    while True:
        page = await store.ledger.list_accounts(after_id=found[-1].id if found else "", limit=PAGE)
        found += page
        if len(page) < PAGE:
            return found


async def lookup_transfers(store: Store, ids: Sequence[str]) -> dict[str, TransferRecord]:
    found: dict[str, TransferRecord] = {}
    for i in range(0, len(ids), PAGE):
        found |= await store.ledger.lookup_transfers(ids[i : i + PAGE])
    return found


async def market_transfer_ids(store: Store, code: TransferCode) -> list[str]:
    """Ids of every applied transfer with ``code``, in chain order."""
    found: list[str] = []
    after = 0
    while True:
        page = await store.ledger.chain_entries(after_seq=after, limit=5 * PAGE)
        found += [t.id for t in page if t.code == code]
        if len(page) < 5 * PAGE:
            return found
        after = page[-1].seq


def could_match(buy: Order, sell: Order) -> bool:
    """Whether the later of two orders, arriving, would have been offered the earlier one."""
    if buy.good_for_day and sell.good_for_day:
        return True
    if buy.good_for_day:
        return buy.slot_start_us <= sell.slot_start_us
    if sell.good_for_day:
        return sell.slot_start_us <= buy.slot_start_us
    return buy.slot_start_us == sell.slot_start_us


def _check_order(order: Order, trades: list[Trade], fee_bps: int) -> None:
    what = f"order {order.id} ({order.side} {order.wh} Wh at {order.price}, {order.state})"
    assert order.remaining_wh == order.wh - sum(t.wh for t in trades), what
    assert order.filled_value == sum(t.wh * t.price for t in trades), what
    assert order.fills == len(trades), what
    assert 0 <= order.remaining_wh <= order.wh, what
    assert (order.state is OrderState.FILLED) == (order.remaining_wh == 0), what
    if order.state is OrderState.OPEN:
        assert order.fills == 0, what
    if order.state is OrderState.PARTIAL:
        assert order.fills > 0, what
    if not order.state.active:
        assert order.reserved == 0, what
    if order.side is Side.BUY:
        assert all(t.price <= order.price for t in trades), what
        assert sum(t.buyer_paid_ngwee for t in trades) == money_of(order.filled_value), what
        assert sum(t.fee_ngwee for t in trades) == order.fees_ngwee, what
        paid = money_of(order.filled_value)
        assert order.fees_ngwee == basis_points_rounded_up(paid, fee_bps), what
        assert paid + order.fees_ngwee <= buy_reservation(order.wh, order.price, fee_bps), what
        if order.state.active:  # the most the rest can cost at the bid (fee included), less what was paid
            most = money_of(order.filled_value + order.remaining_wh * order.price)
            assert order.reserved == most + basis_points_rounded_up(most, fee_bps) - paid - order.fees_ngwee, what
    else:
        assert all(t.price >= order.price for t in trades), what
        assert sum(t.seller_received_ngwee for t in trades) == money_of(order.filled_value), what
        assert money_of(order.filled_value) >= money_of(order.filled_wh * order.price), what
        assert order.fees_ngwee == 0, what
        if order.state.active:
            assert order.reserved == order.remaining_wh, what


async def _check_trade_transfers(store: Store, trades: list[Trade]) -> None:
    ids = [f"{t.id}:{part}" for t in trades for part in ("energy", "sell", "buy", "payment", "fee")]
    found = await lookup_transfers(store, ids)
    for t in trades:
        assert found[f"{t.id}:energy"].amount == t.wh, t
        assert found[f"{t.id}:sell"].amount == t.wh, t
        paid = t.buyer_paid_ngwee + t.fee_ngwee
        assert (found[f"{t.id}:buy"].amount if f"{t.id}:buy" in found else 0) == paid, t
        assert (found[f"{t.id}:payment"].amount if f"{t.id}:payment" in found else 0) == t.seller_received_ngwee, t
        assert (found[f"{t.id}:fee"].amount if f"{t.id}:fee" in found else 0) == t.fee_ngwee, t
    energy_ids = await market_transfer_ids(store, TransferCode.MARKET_ENERGY)
    assert sorted(energy_ids) == sorted(f"{t.id}:energy" for t in trades)  # once per trade, and no other


def _check_not_crossed(orders: list[Order], now_us: int) -> None:
    for cluster_id in {o.cluster_id for o in orders}:
        live = [o for o in orders if o.cluster_id == cluster_id and o.tradeable(now_us)]
        buys = [o for o in live if o.side is Side.BUY]
        sells = [o for o in live if o.side is Side.SELL]
        crossed = [(b.id, s.id) for b in buys for s in sells if could_match(b, s) and b.price >= s.price]
        assert not crossed, f"crossed book in {cluster_id}: {crossed}"


async def check_markets(
    store: Store,
    *,
    users: Sequence[User],
    clusters: Sequence[str],
    funded: Mapping[int, Funding],
    fee_bps: int,
    now_us: int,
    swept: bool = True,
) -> BookSummary:
    """Assert every invariant above; the orders and trades, for the caller's own checks."""
    orders = await all_orders(store, users)
    trades = [t for c in clusters for t in await all_trades(store, c)]
    assert {o.cluster_id for o in orders} <= set(clusters)
    by_order: dict[str, list[Trade]] = defaultdict(list)
    for t in trades:
        by_order[t.buy_order_id].append(t)
        by_order[t.sell_order_id].append(t)
    ids = {o.id for o in orders}
    assert set(by_order) <= ids, "a trade names an order nobody placed"
    for c in clusters:
        seqs = sorted(t.seq for t in trades if t.cluster_id == c)
        assert seqs == list(range(1, len(seqs) + 1)), f"trade numbers of {c} skip or repeat"
        order_seqs = sorted(o.seq for o in orders if o.cluster_id == c)
        assert order_seqs == list(range(1, len(order_seqs) + 1)), f"order numbers of {c} skip or repeat"
    for order in orders:
        _check_order(order, by_order.get(order.id, []), fee_bps)
        if swept:
            assert not (order.state.active and order.expires_at_us <= now_us), f"{order.id} outlived its slot"
    await _check_trade_transfers(store, trades)
    _check_not_crossed(orders, now_us)

    accounts = {a.id: a for a in await all_accounts(store)}
    for ledger in Ledger:
        members = [a for a in accounts.values() if a.ledger is ledger]
        assert sum(a.debits_posted for a in members) == sum(a.credits_posted for a in members), ledger
        assert sum(a.debits_pending for a in members) == sum(a.credits_pending for a in members), ledger
    active = [o for o in orders if o.state.active]
    for c in clusters:
        for ledger, side in ((Ledger.ZMW, Side.BUY), (Ledger.KWH, Side.SELL)):
            escrow = accounts.get(escrow_id(c, ledger))
            held = sum(o.reserved for o in active if o.cluster_id == c and o.side is side)
            if escrow is None:
                assert not any(o.cluster_id == c for o in orders), f"{c} has orders but no escrow"
                continue
            assert escrow.balance == 0, f"escrow {escrow.id} kept {escrow.balance}"
            assert (escrow.credits_pending, escrow.debits_pending) == (held, 0), escrow.id
    live = [o for o in active if o.reserved > 0]
    reservations = await lookup_transfers(store, [o.reservation_id for o in live])
    statuses = await store.ledger.pending_statuses([o.reservation_id for o in live])
    for o in live:
        assert o.reservation_id in reservations, f"{o.id}: its reservation {o.reservation_id} is missing"
        assert reservations[o.reservation_id].amount == o.reserved, o.id
        assert statuses[o.reservation_id] is PendingStatus.PENDING, o.id

    total_ngwee = total_wh = 0
    for user in users:
        zmw, kwh = accounts[user.zmw_account_id], accounts[user.kwh_account_id]
        mine = [o for o in active if o.user_id == user.id]
        assert zmw.debits_pending == sum(o.reserved for o in mine if o.side is Side.BUY), user.id
        assert kwh.debits_pending == sum(o.reserved for o in mine if o.side is Side.SELL), user.id
        bought = [t for t in trades if t.buyer_id == user.id]
        sold = [t for t in trades if t.seller_id == user.id]
        given = funded[user.id]
        paid = sum(t.buyer_paid_ngwee + t.fee_ngwee for t in bought)
        assert zmw.balance == given.ngwee - paid + sum(t.seller_received_ngwee for t in sold), user.id
        assert kwh.balance == given.wh + sum(t.wh for t in bought) - sum(t.wh for t in sold), user.id
        total_ngwee += zmw.balance
        total_wh += kwh.balance
    fees, rounding = accounts[FEES].balance, accounts[MARKET_ROUNDING].balance
    assert fees == sum(t.fee_ngwee for t in trades)
    assert rounding == -sum(t.seller_received_ngwee - t.buyer_paid_ngwee for t in trades)
    assert total_ngwee + fees + rounding == sum(f.ngwee for f in funded.values())  # escrow holds nothing posted
    assert total_wh == sum(f.wh for f in funded.values())

    report = await verify_ledger(store.ledger)
    assert report.ok, report.problems
    return BookSummary(orders, trades)
