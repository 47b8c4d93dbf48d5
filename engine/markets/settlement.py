"""The ledger transfers of the market: reserve with an order, settle each fill, release what is left.

Money and energy wait in the cluster market's escrow accounts only inside one
fill's linked batch: a fill posts part of each reservation into escrow and pays
it straight out, so escrow ends every batch where it began (a property test
checks). Escrow accounts may not overdraw, so a payout can never outrun the post.
"""

from __future__ import annotations

from engine.identity.model import User
from engine.kernel.clock import MICROS_PER_SECOND
from engine.ledger.accounts import CLUSTER_OWNER, FEES, WALLET_FLAGS
from engine.ledger.model import Account, AccountKind, Ledger, Transfer, TransferCode, TransferFlags
from engine.markets.book import BookFill
from engine.markets.model import Order, Side

MARKET_ROUNDING = "system:market_rounding:ZMW"
ROUNDING_ACCOUNT = Account(MARKET_ROUNDING, Ledger.ZMW, AccountKind.MARKET_ROUNDING, owner="platform")
# A reservation outlives its order's expiry by this much: the slot job releases it first; the
# ledger's own timeout only backs it up if the scheduler stopped for a day.
RESERVATION_GRACE_S = 24 * 3600


def escrow_id(cluster_id: str, ledger: Ledger) -> str:
    return f"market:{cluster_id}:{ledger.value}"


def escrow_accounts(cluster_id: str) -> list[Account]:
    owner = f"{CLUSTER_OWNER}{cluster_id}"
    return [
        Account(escrow_id(cluster_id, ledger), ledger, AccountKind.MARKET_ESCROW, owner=owner, flags=WALLET_FLAGS)
        for ledger in (Ledger.ZMW, Ledger.KWH)
    ]


def _timeout_s(order: Order, now_us: int) -> int:
    return max(1, (order.expires_at_us - now_us) // MICROS_PER_SECOND + RESERVATION_GRACE_S)


def _reserve(order: Order, owner: User, amount: int, number: int, now_us: int) -> Transfer:
    buying = order.side is Side.BUY
    ledger = Ledger.ZMW if buying else Ledger.KWH
    return Transfer(
        id=f"{order.id}:r{number}",
        debit_account_id=owner.zmw_account_id if buying else owner.kwh_account_id,
        credit_account_id=escrow_id(order.cluster_id, ledger),
        amount=amount,
        ledger=ledger,
        code=TransferCode.MARKET_BID if buying else TransferCode.MARKET_ASK,
        flags=TransferFlags.PENDING,
        timeout_s=_timeout_s(order, now_us),
        reference=order.reference,
    )


def reservation(order: Order, owner: User, now_us: int) -> Transfer:
    """The order's first reservation (``order.reserved`` of money or energy)."""
    return _reserve(order, owner, order.reserved, 0, now_us)


def release(order: Order, suffix: str) -> Transfer:
    """Void the order's live reservation (cancel, expiry, self-trade prevention)."""
    return Transfer(
        id=f"{order.id}:{suffix}",
        flags=TransferFlags.VOID_PENDING,
        pending_id=order.reservation_id,
        code=TransferCode.MARKET_BID if order.side is Side.BUY else TransferCode.MARKET_ASK,
        reference=order.reference,
    )


def _settle_side(
    before: Order, after: Order, owner: User, taken: int, trade_id: str, reference: str, now_us: int
) -> list[Transfer]:
    """Post ``taken`` of the order's reservation into escrow and reserve the rest under the next number."""
    code = TransferCode.MARKET_BID if before.side is Side.BUY else TransferCode.MARKET_ASK
    transfers: list[Transfer] = []
    if taken > 0:
        # A partial post releases the rest of the reservation (two-phase semantics), so the
        # rest is reserved again below; both happen in this batch or neither does.
        transfers.append(
            Transfer(
                id=f"{trade_id}:{before.side.value}",
                flags=TransferFlags.POST_PENDING,
                pending_id=before.reservation_id,
                amount=taken,
                code=code,
                reference=reference,
            )
        )
    elif before.reserved > 0:  # a fill that rounds to no money for this side: release and reserve it all again
        transfers.append(release(before, f"v{before.fills}"))
    # else: the order held nothing (its last Wh cost no more than it already paid): nothing to post or void
    # What is left of the old reservation beyond ``after.reserved`` (a better price than the bid) is
    # released by the post: the buyer has it back at once.
    if after.remaining_wh > 0 and after.reserved > 0:
        transfers.append(_reserve(after, owner, after.reserved, after.fills, now_us))
    return transfers


def fill_transfers(
    fill: BookFill,
    *,
    buy_after: Order,
    sell_after: Order,
    buyer: User,
    seller: User,
    trade_id: str,
    reference: str,
    now_us: int,
) -> list[Transfer]:
    """One fill as one linked batch: both posts (and re-reservations), then energy, money, rounding and fee out."""
    a = fill.amounts
    cluster = fill.buy.cluster_id
    money, energy = escrow_id(cluster, Ledger.ZMW), escrow_id(cluster, Ledger.KWH)
    transfers = [
        *_settle_side(fill.buy, buy_after, buyer, a.buyer_pays + a.fee, trade_id, reference, now_us),
        *_settle_side(fill.sell, sell_after, seller, fill.wh, trade_id, reference, now_us),
        _move(f"{trade_id}:energy", energy, buyer.kwh_account_id, fill.wh, Ledger.KWH, TransferCode.MARKET_ENERGY,
              reference),
    ]  # fmt: skip
    if a.rounding > 0:
        transfers.append(_move(f"{trade_id}:rounding", MARKET_ROUNDING, money, a.rounding, Ledger.ZMW,
                               TransferCode.MARKET_ROUNDING, reference))  # fmt: skip
    if a.seller_gets > 0:
        transfers.append(_move(f"{trade_id}:payment", money, seller.zmw_account_id, a.seller_gets, Ledger.ZMW,
                               TransferCode.MARKET_PAYMENT, reference))  # fmt: skip
    if a.rounding < 0:
        transfers.append(_move(f"{trade_id}:rounding", money, MARKET_ROUNDING, -a.rounding, Ledger.ZMW,
                               TransferCode.MARKET_ROUNDING, reference))  # fmt: skip
    if a.fee > 0:
        transfers.append(_move(f"{trade_id}:fee", money, FEES, a.fee, Ledger.ZMW, TransferCode.MARKET_FEE, reference))
    return transfers


def _move(tid: str, debit: str, credit: str, amount: int, ledger: Ledger, code: TransferCode, ref: str) -> Transfer:
    return Transfer(
        id=tid,
        debit_account_id=debit,
        credit_account_id=credit,
        amount=amount,
        ledger=ledger,
        code=code,
        reference=ref,
    )
