"""Selling (an offer the buyer accepts) and sending a gift (menus/features/trade.yaml).

The home option sets the session value ``gift``; both journeys share these steps.
"""

from __future__ import annotations

from engine.kernel import daily_caps
from engine.kernel.errors import DailyLimitReached, EnerlectraError, InvalidAmount, OutflowHeld
from engine.kernel.units import parse_money, parse_price
from ussd_server.menu.context import CAPPED, Hop
from ussd_server.menu.features.gates import failure, need_user, verified
from ussd_server.menu.features.inputs import ranged
from ussd_server.menu.registry import Feature, Invalid, Outcome, Value
from ussd_server.menu.schema import Validator

# The highest price per kWh one may ask; typed as a price, parsed as money.
_PRICE_LIMIT = Validator(type="trade_price", max="100")


async def no_energy(hop: Hop) -> bool:
    return (await hop.platform.wallet.balances(await need_user(hop))).wh <= 0


async def gift(hop: Hop) -> bool:
    return bool(hop.session.values.get("gift"))


async def transfers_capped(hop: Hop) -> bool:
    """Today's gifts (or offers) are used up: say so before a number is typed."""
    user = await need_user(hop)
    if hop.session.values.get("gift"):
        cap, left = daily_caps.Cap.GIFTS, await hop.platform.trading.gifts_left_today(user)
    else:
        cap, left = daily_caps.Cap.OFFERS, await hop.platform.offers.offers_left_today(user)
    if left > 0:
        return False
    hop.session.values[CAPPED] = str(cap)  # the capped screen words itself from it (see guards.cap_status)
    return True


async def energy_balance(hop: Hop) -> Outcome:
    b = await hop.platform.wallet.balances(await need_user(hop))
    return Outcome(values={"have_wh": b.wh}, keep=False)


async def market_price(hop: Hop) -> Outcome:
    return Outcome(values={"market": hop.platform.config.platform_price_ngwee_per_kwh}, keep=False)


def _limited(exc: DailyLimitReached) -> Outcome:
    return Outcome(route=exc.code, values={CAPPED: str(exc.params["kind"])})


async def check_counterpart(hop: Hop) -> Outcome:
    """Refuse an unknown or own number right away, not after kWh and price; name the other person briefly."""
    user = await need_user(hop)
    counterpart = str(hop.session.values.get("counterpart", ""))
    try:
        other = await hop.platform.users.look_up(user, counterpart)
    except DailyLimitReached as exc:
        return _limited(exc)
    except EnerlectraError as exc:
        return failure(exc, counterpart=counterpart)
    return Outcome(values={"counterpart_name": other.short_name})


async def quote_trade(hop: Hop) -> Outcome:
    values = hop.session.values
    user = await need_user(hop)
    price = 0 if values.get("gift") else int(values.get("price", 0))
    try:
        quote = hop.platform.trading.quote(int(values.get("wh", 0)), price)
    except EnerlectraError as exc:
        return failure(exc)
    energy = (await hop.platform.wallet.balances(user)).wh
    if energy < quote.wh:  # say so before asking for the PIN
        return Outcome(route="insufficient_energy", values={"have_wh": energy}, keep=False)
    if price:
        counterpart = await hop.platform.users.find(str(values.get("counterpart", "")))
        most = hop.platform.config.max_open_offers_per_pair
        if counterpart is not None and await hop.platform.offers.open_offers_to(user, counterpart) >= most:
            return Outcome(route="too_many_open_offers", values={"max": most}, keep=False)
    values["attempt"] = int(values.get("attempt", 0)) + 1
    return Outcome(values={"cost": quote.cost_ngwee, "fee": quote.fee_ngwee, "price": price})


async def trade_energy(hop: Hop) -> Outcome:
    checked = await verified(hop)
    if isinstance(checked, Outcome):
        return checked
    user, values = checked.user, hop.session.values
    price = int(values["price"])
    try:
        if price == 0:  # a gift needs no consent from the receiver
            receipt = await hop.platform.trading.trade(
                seller=user,
                buyer_phone=str(values["counterpart"]),
                wh=int(values["wh"]),
                price_ngwee_per_kwh=0,
                operation_id=hop.operation_id("gift"),
            )
            reference = receipt.reference
        else:  # a sale is an offer: the buyer's money moves only when the buyer accepts
            offer = await hop.platform.offers.offer(
                seller=user,
                buyer_phone=str(values["counterpart"]),
                wh=int(values["wh"]),
                price_ngwee_per_kwh=price,
                operation_id=hop.operation_id("offer"),
            )
            reference = offer.reference
    except DailyLimitReached as exc:
        return _limited(exc)
    except OutflowHeld as exc:
        return Outcome(route=exc.code, keep=False)
    except EnerlectraError as exc:
        balance = await hop.platform.wallet.balances(user)
        return failure(exc, have_wh=balance.wh)
    hop.sms_queued = True
    hop.session.back.clear()
    return Outcome(values={"ref": reference, "hours": hop.platform.config.offer_ttl_s // 3600})


async def trade_price(raw: str, spec: Validator, hop: Hop) -> Value:
    """A price is always typed as a price: no number on this screen means anything else.

    (It used to offer "1" for the market price and "2" for a gift, so someone
    typing 2 to ask K2.00 gave their energy away. A gift is its own menu choice.)
    """
    try:
        return ranged(parse_price(raw), _PRICE_LIMIT, parse_money, "err.price_range")
    except InvalidAmount:
        raise Invalid("err.price") from None


FEATURE = Feature(
    name="trade",
    actions={
        "energy_balance": energy_balance,
        "market_price": market_price,
        "check_counterpart": check_counterpart,
        "quote_trade": quote_trade,
        "trade_energy": trade_energy,
    },
    conditions={"no_energy": no_energy, "gift": gift, "transfers_capped": transfers_capped},
    validators={"trade_price": trade_price},
)
