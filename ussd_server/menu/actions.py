"""The actions, conditions and list sources the menu files name, over the engine."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from engine.errors import EnerlectraError, PinBusy, PinLocked, WrongPin
from engine.ledger.model import Ledger, TransferCode
from engine.model import User
from engine.units import format_energy, format_money
from ussd_server.menu.context import Hop
from ussd_server.menu.registry import Item, Outcome, Registry

registry = Registry()
LANGUAGE_NAMES = {"en": "English", "ny": "Chinyanja", "bem": "Ichibemba"}
_TX_LABELS: dict[int, str] = {
    TransferCode.STARTING_CREDIT: "tx.bonus",
    TransferCode.ENERGY_TRADE: "tx.energy",
    TransferCode.ENERGY_PAYMENT: "tx.payment",
    TransferCode.TRADE_FEE: "tx.fee",
    TransferCode.ENERGY_GIFT: "tx.gift",
    TransferCode.CLUSTER_ENERGY: "tx.solar",
    TransferCode.CLUSTER_PAYMENT: "tx.payment",
}


def operation_id(hop: Hop, kind: str) -> str:
    """Stable for one confirmation of one session: a replayed hop can never apply twice."""
    attempt = hop.session.values.get("attempt", 0)
    digest = hashlib.blake2b(f"{hop.session.id}|{kind}|{attempt}".encode(), digest_size=16).hexdigest()
    return f"ussd-{kind}-{digest}"


def _failure(exc: EnerlectraError, **values: object) -> Outcome:
    return Outcome(route=exc.code, values={**exc.params, **values}, keep=False)


async def _need_user(hop: Hop) -> User:
    user = await hop.user()
    if user is None:
        raise LookupError("this screen needs a registered user")
    return user


async def _verified(hop: Hop) -> User | Outcome:
    """The user, if the PIN typed this hop is right; else the outcome to route on."""
    user = await _need_user(hop)
    try:
        pin = hop.pin or ""
        return await hop.pin_check(lambda retry: hop.platform.users.verify_pin(user, pin, retry=retry))
    except (WrongPin, PinBusy) as exc:
        return _failure(exc)
    except PinLocked:
        return Outcome(route="pin_locked", values={"minutes": hop.settings.pin_lock_minutes}, keep=False)


async def _confirmed_pin_hash(hop: Hop) -> str | Outcome:
    """The hash of the PIN being chosen, if the PIN typed this hop is the same; else the outcome to route on.

    A busy answer keeps the hash in the session: they only need to type the PIN again.
    """
    values = hop.session.values
    pin_hash = str(values.get("pin_hash", ""))
    pin = hop.pin or ""
    try:
        matches = await hop.pin_check(lambda retry: hop.platform.users.pin_matches(pin, pin_hash, retry=retry))
    except PinBusy as exc:
        return _failure(exc)
    values.pop("pin_hash", None)
    return pin_hash if matches else Outcome(route="pin_mismatch")


# --- conditions ------------------------------------------------------------------


@registry.condition("registered")
async def registered(hop: Hop) -> bool:
    user = await hop.user()
    if user is not None:
        hop.session.user_id = user.id
        hop.session.language = str(user.language)
    return user is not None


@registry.condition("resumable")
async def resumable(hop: Hop) -> bool:
    if hop.resume_candidate is None:
        return False
    hop.session.language = hop.resume_candidate.language  # offer it in the language they were using
    return True


# --- resume ----------------------------------------------------------------------


@registry.action("resume_restore")
async def resume_restore(hop: Hop) -> Outcome:
    old = hop.resume_candidate
    if old is None:
        return Outcome()
    hop.session.values = dict(old.values)
    hop.session.back = list(old.back)
    hop.session.language = old.language
    hop.session.user_id = old.user_id
    return Outcome(goto=old.state)


@registry.action("resume_discard")
async def resume_discard(hop: Hop) -> Outcome:
    hop.resume_candidate = None
    return Outcome()


# --- registration ----------------------------------------------------------------


@registry.action("register")
async def register(hop: Hop) -> Outcome:
    values = hop.session.values
    pin_hash = await _confirmed_pin_hash(hop)
    if isinstance(pin_hash, Outcome):
        return pin_hash
    try:
        user = await hop.platform.users.register(
            phone=hop.session.phone,
            name=str(values.get("name", "")),
            language=str(values.get("language", "en")),
            pin_hash=pin_hash,
        )
    except EnerlectraError as exc:
        return _failure(exc)
    hop.forget_user()
    hop.sms_queued = True
    hop.session.user_id = user.id
    hop.session.language = str(user.language)
    hop.session.back.clear()  # "0" must never lead back into registration
    values.clear()
    return Outcome()


# --- home and wallet ---------------------------------------------------------------


@registry.action("greeting")
async def greeting(hop: Hop) -> Outcome:
    user = await _need_user(hop)
    return Outcome(values={"first_name": user.name.split()[0]}, keep=False)


@registry.action("balances")
async def balances(hop: Hop) -> Outcome:
    b = await hop.platform.wallet.balances(await _need_user(hop))
    return Outcome(values={"ngwee": b.ngwee, "wh": b.wh}, keep=False)


@registry.action("carbon")
async def carbon(hop: Hop) -> Outcome:
    report = await hop.platform.carbon.for_user(await _need_user(hop))
    return Outcome(
        values={"wh": report.renewable_wh, "kg": report.co2_grams, "trees": report.trees_tenths, "km": report.car_km},
        keep=False,
    )


@registry.source("statement")
async def statement(hop: Hop) -> list[Item]:
    page = await hop.platform.wallet.history(await _need_user(hop), limit=12)
    items = []
    for entry in page.entries:
        when = datetime.fromtimestamp(entry.timestamp / 1_000_000, UTC).strftime("%d/%m")
        what = hop.text(_TX_LABELS.get(entry.code, "tx.other"))
        amount = format_money(entry.amount) if entry.ledger is Ledger.ZMW else format_energy(entry.amount)
        sign = "+" if entry.amount > 0 else ""
        items.append(Item(str(entry.seq), {"when": when, "what": what, "amount": sign + amount}))
    return items


# --- buying from a cluster ------------------------------------------------------------


@registry.source("regions")
async def regions(hop: Hop) -> list[Item]:
    return [Item(r, {"region": r}) for r in await hop.platform.clusters.regions()]


@registry.source("clusters")
async def clusters(hop: Hop) -> list[Item]:
    views = await hop.platform.clusters.list(region=str(hop.session.values.get("region", "")))
    return [
        Item(
            v.cluster.id, {"name": v.cluster.name, "price": v.cluster.price_ngwee_per_kwh, "available": v.available_wh}
        )
        for v in views
        if v.available_wh > 0
    ]


@registry.action("cluster_summary")
async def cluster_summary(hop: Hop) -> Outcome:
    view = await hop.platform.clusters.get(str(hop.session.values.get("cluster", "")))
    return Outcome(
        values={
            "cluster_name": view.cluster.name,
            "price": view.cluster.price_ngwee_per_kwh,
            "available": view.available_wh,
        },
        keep=False,
    )


@registry.action("quote_purchase")
async def quote_purchase(hop: Hop) -> Outcome:
    values = hop.session.values
    wh = int(values.get("wh", 0))
    try:
        view = await hop.platform.clusters.get(str(values.get("cluster", "")))
        if view.available_wh < wh:
            return Outcome(route="cluster_capacity_short", values={"available": view.available_wh}, keep=False)
        cost = hop.platform.clusters.quote(view.cluster, wh)
    except EnerlectraError as exc:
        return _failure(exc)
    money = (await hop.platform.wallet.balances(await _need_user(hop))).ngwee
    if money < cost:  # say so before asking for the PIN
        return Outcome(route="insufficient_funds", values={"ngwee": money}, keep=False)
    values["attempt"] = int(values.get("attempt", 0)) + 1
    return Outcome(values={"cluster_name": view.cluster.name, "cost": cost})


@registry.action("buy_energy")
async def buy_energy(hop: Hop) -> Outcome:
    user = await _verified(hop)
    if isinstance(user, Outcome):
        return user
    values = hop.session.values
    try:
        receipt = await hop.platform.clusters.buy(
            buyer=user,
            cluster_id=str(values["cluster"]),
            wh=int(values["wh"]),
            operation_id=operation_id(hop, "buy"),
        )
    except EnerlectraError as exc:
        balance = await hop.platform.wallet.balances(user)
        return _failure(exc, ngwee=balance.ngwee)
    after = await hop.platform.wallet.balances(user)
    hop.sms_queued = True
    hop.session.back.clear()
    return Outcome(
        values={"ref": receipt.reference, "cost": receipt.cost_ngwee, "ngwee": after.ngwee, "bal_wh": after.wh}
    )


# --- selling and sending ------------------------------------------------------------


@registry.action("energy_balance")
async def energy_balance(hop: Hop) -> Outcome:
    b = await hop.platform.wallet.balances(await _need_user(hop))
    return Outcome(values={"have_wh": b.wh}, keep=False)


@registry.action("market_price")
async def market_price(hop: Hop) -> Outcome:
    return Outcome(values={"market": hop.platform.config.platform_price_ngwee_per_kwh}, keep=False)


@registry.action("check_counterpart")
async def check_counterpart(hop: Hop) -> Outcome:
    """Refuse an unknown or own number right away, not after kWh and price."""
    user = await _need_user(hop)
    counterpart = str(hop.session.values.get("counterpart", ""))
    if counterpart == user.phone:
        return Outcome(route="self_trade")
    other = await hop.platform.users.find(counterpart)
    if other is None:
        return Outcome(route="counterparty_not_found", values={"counterpart": counterpart}, keep=False)
    return Outcome(values={"counterpart_name": other.name})


@registry.action("quote_trade")
async def quote_trade(hop: Hop) -> Outcome:
    values = hop.session.values
    user = await _need_user(hop)
    try:
        quote = hop.platform.trading.quote(int(values.get("wh", 0)), int(values.get("price", 0)))
    except EnerlectraError as exc:
        return _failure(exc)
    energy = (await hop.platform.wallet.balances(user)).wh
    if energy < quote.wh:  # say so before asking for the PIN
        return Outcome(route="insufficient_energy", values={"have_wh": energy}, keep=False)
    values["attempt"] = int(values.get("attempt", 0)) + 1
    return Outcome(
        values={
            "cost": quote.cost_ngwee,
            "fee": quote.fee_ngwee,
            "gift": 1 if quote.price_ngwee_per_kwh == 0 else 0,
        }
    )


@registry.action("trade_energy")
async def trade_energy(hop: Hop) -> Outcome:
    user = await _verified(hop)
    if isinstance(user, Outcome):
        return user
    values = hop.session.values
    price = int(values["price"])
    try:
        if price == 0:  # a gift needs no consent from the receiver
            receipt = await hop.platform.trading.trade(
                seller=user,
                buyer_phone=str(values["counterpart"]),
                wh=int(values["wh"]),
                price_ngwee_per_kwh=0,
                operation_id=operation_id(hop, "gift"),
            )
            reference = receipt.reference
        else:  # a sale is an offer: the buyer's money moves only when the buyer accepts
            offer = await hop.platform.offers.offer(
                seller=user,
                buyer_phone=str(values["counterpart"]),
                wh=int(values["wh"]),
                price_ngwee_per_kwh=price,
                operation_id=operation_id(hop, "offer"),
            )
            reference = offer.reference
    except EnerlectraError as exc:
        balance = await hop.platform.wallet.balances(user)
        return _failure(exc, have_wh=balance.wh)
    hop.sms_queued = True
    hop.session.back.clear()
    return Outcome(values={"ref": reference, "hours": hop.platform.config.offer_ttl_s // 3600})


# --- offers made to me ------------------------------------------------------------------


@registry.source("offers")
async def offers(hop: Hop) -> list[Item]:
    views = await hop.platform.offers.open_offers(await _need_user(hop))
    return [
        Item(v.offer.id, {"name": v.seller_name, "wh": v.offer.wh, "cost": v.offer.cost_ngwee + v.offer.fee_ngwee})
        for v in views
    ]


@registry.action("offer_details")
async def offer_details(hop: Hop) -> Outcome:
    offer = await hop.platform.store.offer_by_id(str(hop.session.values.get("offer", "")))
    if offer is None:
        return Outcome(values={}, keep=False)
    seller = await hop.platform.store.user_by_id(offer.seller_id)
    return Outcome(
        values={
            "seller_name": seller.name if seller else "?",
            "seller_phone": seller.phone if seller else "",
            "wh": offer.wh,
            "cost": offer.cost_ngwee,
            "fee": offer.fee_ngwee,
            "total": offer.cost_ngwee + offer.fee_ngwee,
        },
        keep=False,
    )


@registry.action("accept_offer")
async def accept_offer(hop: Hop) -> Outcome:
    user = await _verified(hop)
    if isinstance(user, Outcome):
        return user
    try:
        receipt = await hop.platform.offers.accept(buyer=user, offer_id=str(hop.session.values.get("offer", "")))
    except EnerlectraError as exc:
        balance = await hop.platform.wallet.balances(user)
        return _failure(exc, ngwee=balance.ngwee)
    hop.sms_queued = True
    hop.session.back.clear()
    return Outcome(
        values={"ref": receipt.reference, "wh": receipt.quote.wh, "total": receipt.quote.buyer_pays}, keep=False
    )


@registry.action("decline_offer")
async def decline_offer(hop: Hop) -> Outcome:
    user = await _need_user(hop)
    try:
        offer = await hop.platform.offers.decline(buyer=user, offer_id=str(hop.session.values.get("offer", "")))
    except EnerlectraError as exc:
        return _failure(exc)
    seller = await hop.platform.store.user_by_id(offer.seller_id)
    hop.sms_queued = True
    hop.session.back.clear()
    return Outcome(values={"seller_name": seller.name if seller else ""}, keep=False)


# --- my account ------------------------------------------------------------------------


@registry.action("profile")
async def profile(hop: Hop) -> Outcome:
    user = await _need_user(hop)
    since = datetime.fromtimestamp(user.created_at / 1_000_000, UTC).strftime("%d/%m/%Y")
    return Outcome(
        values={
            "name": user.name,
            "phone": user.phone,
            "language_name": LANGUAGE_NAMES[str(user.language)],
            "since": since,
        },
        keep=False,
    )


@registry.action("change_language")
async def change_language(hop: Hop) -> Outcome:
    language = str(hop.session.values.pop("language", "en"))
    await hop.platform.users.change_language(await _need_user(hop), language)
    hop.session.language = language
    return Outcome()


@registry.action("check_pin")
async def check_current_pin(hop: Hop) -> Outcome:
    user = await _verified(hop)
    if isinstance(user, Outcome):
        return user
    return Outcome(values={"pin_ok": 1})


@registry.action("change_pin")
async def change_pin(hop: Hop) -> Outcome:
    values = hop.session.values
    if not values.get("pin_ok"):
        values.pop("pin_hash", None)
        return Outcome(route="pin_mismatch")
    pin_hash = await _confirmed_pin_hash(hop)
    if isinstance(pin_hash, Outcome):
        return pin_hash
    await hop.platform.users.replace_pin(await _need_user(hop), pin_hash)
    values.pop("pin_ok", None)
    return Outcome()
