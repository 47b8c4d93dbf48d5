"""The actions, conditions and list sources the menu files name, over the engine."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from engine import daily_caps
from engine.clock import MICROS_PER_SECOND
from engine.errors import DailyLimitReached, EnerlectraError, OutflowHeld, PinBusy, PinLocked, WrongPin
from engine.local_time import local_text, next_local_midnight_us
from engine.model import User
from engine.pin_state import PinProof
from engine.units import format_energy, format_money
from engine.wallet import StatementKind, StatementLine
from ussd_server.gsm7 import gsm7_length, to_gsm7
from ussd_server.i18n import Catalogs
from ussd_server.menu.context import PIN_HASH, Hop, PinRateLimited
from ussd_server.menu.registry import Item, Outcome, Registry
from ussd_server.menu.render import BUDGET

registry = Registry()
LANGUAGE_NAMES = {"en": "English", "ny": "Chinyanja", "bem": "Ichibemba"}
STATEMENT_KEYS: dict[StatementKind, str] = {
    StatementKind.CLUSTER_PURCHASE: "stmt.cluster",
    StatementKind.BOUGHT: "stmt.bought",
    StatementKind.SOLD: "stmt.sold",
    StatementKind.GIFT_RECEIVED: "stmt.gift_in",
    StatementKind.GIFT_SENT: "stmt.gift_out",
    StatementKind.WELCOME_BONUS: "stmt.bonus",
    StatementKind.OTHER: "stmt.other",
}
STATEMENT_LINES = 12  # operations on the mini-statement
STATEMENT_LINES_PER_PAGE = 3  # the fewest a statement page may show


def operation_id(hop: Hop, kind: str) -> str:
    """Stable for one confirmation of one session: a replayed hop can never apply twice.

    The session's nonce is in it: a gateway that reuses a session id after the
    session expired starts a new session, whose operations are new.
    """
    s = hop.session
    attempt = s.values.get("attempt", 0)
    digest = hashlib.blake2b(f"{s.id}|{s.nonce}|{kind}|{attempt}".encode(), digest_size=16).hexdigest()
    return f"ussd-{kind}-{digest}"


def _failure(exc: EnerlectraError, **values: object) -> Outcome:
    return Outcome(route=exc.code, values={**exc.params, **values}, keep=False)


def _pin_rate(limited: PinRateLimited) -> Outcome:
    return Outcome(route="pin_rate", values={"seconds": limited.seconds}, keep=False)


async def _need_user(hop: Hop) -> User:
    user = await hop.user()
    if user is None:
        raise LookupError("this screen needs a registered user")
    return user


@dataclass(frozen=True, slots=True)
class Verified:
    user: User
    proof: PinProof


async def _verified(hop: Hop) -> Verified | Outcome:
    """The user and proof of their PIN, if the PIN typed this hop is right; else the outcome to route on."""
    user = await _need_user(hop)
    pin = hop.pin or ""
    try:
        proof = await hop.pin_check(
            lambda retry, budget: hop.platform.users.verify_pin(user, pin, retry=retry, budget_s=budget)
        )
    except (WrongPin, PinBusy) as exc:
        return _failure(exc)
    except PinRateLimited as limited:
        return _pin_rate(limited)
    except PinLocked:
        hop.forget_user()  # the lock screen reads the lock as it is now
        return Outcome(route="pin_locked")
    return Verified(user, proof)


async def _confirmed_pin_hash(hop: Hop) -> str | Outcome:
    """The hash of the PIN being chosen, if the PIN typed this hop is the same; else the outcome to route on.

    A busy answer keeps the hash in the session: they only need to type the PIN again.
    """
    values = hop.session.values
    pin_hash = str(values.get(PIN_HASH, ""))
    pin = hop.pin or ""
    try:
        matches = await hop.pin_check(
            lambda retry, budget: hop.platform.users.pin_matches(pin, pin_hash, retry=retry, budget_s=budget)
        )
    except PinBusy as exc:
        return _failure(exc)
    except PinRateLimited as limited:
        return _pin_rate(limited)
    if not matches:
        values.pop(PIN_HASH, None)
        return Outcome(route="pin_mismatch")
    return pin_hash


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


@registry.condition("must_change_pin")
async def must_change_pin(hop: Hop) -> bool:
    """An operator reset the PIN: the one-time PIN must be replaced before anything else."""
    user = await hop.user()
    if user is None or not user.pin_must_change:
        return False
    hop.session.user_id = user.id
    hop.session.language = str(user.language)
    return True


@registry.condition("pin_locked")
async def pin_locked(hop: Hop) -> bool:
    return (await _need_user(hop)).locked_at(hop.platform.clock.now_us())


@registry.condition("outflow_held")
async def outflow_held(hop: Hop) -> bool:
    return (await _need_user(hop)).hold_until > hop.platform.clock.now_us()


@registry.condition("no_energy")
async def no_energy(hop: Hop) -> bool:
    return (await hop.platform.wallet.balances(await _need_user(hop))).wh <= 0


@registry.condition("gift")
async def gift(hop: Hop) -> bool:
    return bool(hop.session.values.get("gift"))


@registry.condition("transfers_capped")
async def transfers_capped(hop: Hop) -> bool:
    """Today's gifts (or offers) are used up: say so before a number is typed."""
    user = await _need_user(hop)
    config = hop.platform.config
    cap, limit = (
        (daily_caps.Cap.GIFTS, config.gifts_per_day)
        if hop.session.values.get("gift")
        else (daily_caps.Cap.OFFERS, config.offers_per_day)
    )
    now, offset = hop.platform.clock.now_us(), config.local_utc_offset_s
    left = await daily_caps.left_today(hop.platform.store, user.id, cap, limit, now_us=now, offset_s=offset)
    if left > 0:
        return False
    hop.session.values[CAPPED] = str(cap)  # the capped screen words itself from it (see cap_status)
    return True


# Session value: which daily cap stopped the journey (daily_caps.Cap), for the capped screen.
CAPPED = "capped"
_CAP_LIMITS = {
    daily_caps.Cap.GIFTS: "gifts_per_day",
    daily_caps.Cap.OFFERS: "offers_per_day",
    daily_caps.Cap.LOOKUPS: "lookups_per_day",
}


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
    """Equivalents only where they mean something: a tree or a kilometre, not 0.0 of one."""
    report = await hop.platform.carbon.for_user(await _need_user(hop))
    trees = report.trees_tenths >= 10
    km = report.car_km >= 1
    return Outcome(
        values={
            "wh": report.renewable_wh,
            "kg": report.co2_grams,
            "trees": report.trees_tenths,
            "km": report.car_km,
            "no_energy": 1 if report.renewable_wh <= 0 else 0,
            "trees_km": 1 if trees and km else 0,
            "km_only": 1 if km and not trees else 0,
        },
        keep=False,
    )


@registry.source("statement")
async def statement(hop: Hop) -> list[Item]:
    lines = await hop.platform.wallet.statement(await _need_user(hop), limit=STATEMENT_LINES)
    room = statement_line_room(hop.catalogs, hop.session.language)
    items = []
    for line in lines:
        when = local_text(line.timestamp, _offset(hop), "%d/%m")  # the day as the person lived it
        items.append(Item(line.reference, {"when": when, "what": _statement_what(hop, line, when, room)}))
    return items


def statement_line_room(catalogs: Catalogs, language: str) -> int:
    """The longest statement line that still lets a page show three, beside its title, "98 More" and navigation."""
    fixed = sum(
        gsm7_length(catalogs.text(language, key)) + 1 for key in ("statement.title", "nav.more", "nav.back_home")
    )
    return (BUDGET - fixed) // STATEMENT_LINES_PER_PAGE - 1


def _statement_what(hop: Hop, line: StatementLine, when: str, room: int) -> str:
    """What happened and with whom, from the kind's text; a name too long for ``room`` is shortened."""
    money = ("+" if line.ngwee > 0 else "") + format_money(line.ngwee)
    energy = ("+" if line.wh > 0 else "") + format_energy(line.wh)
    amount = money if line.ngwee or not line.wh else energy  # only "other" lines may move energy alone
    name = to_gsm7(line.counterparty)
    while True:
        what = hop.text(STATEMENT_KEYS[line.kind], wh=abs(line.wh), name=name, amount=amount)
        if len(name) <= 1 or gsm7_length(hop.text("statement.item", when=when, what=what)) <= room:
            return what
        # Whole words go first ("Kabulonga Micro-Grid" -> "Kabulonga", "Mwila B." -> "Mwila"),
        # then letters: the amount and the kind always show in full.
        words = name.split()
        name = " ".join(words[:-1]) if len(words) > 1 else name[:-1]


# --- buying from a cluster ------------------------------------------------------------


@registry.source("regions")
async def regions(hop: Hop) -> list[Item]:
    """Regions in the configured order (REGION_ORDER), any other after it, A-Z."""
    order = {name.casefold(): i for i, name in enumerate(hop.settings.region_order)}
    found = await hop.platform.clusters.regions()
    ranked = sorted(found, key=lambda r: (order.get(r.casefold(), len(order)), r.casefold()))
    return [Item(r, {"region": r}) for r in ranked]


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
    verified = await _verified(hop)
    if isinstance(verified, Outcome):
        return verified
    user, values = verified.user, hop.session.values
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


def _limited(exc: DailyLimitReached, hop: Hop) -> Outcome:
    return Outcome(route=exc.code, values={CAPPED: str(exc.params["kind"])})


def _offset(hop: Hop) -> int:
    return hop.platform.config.local_utc_offset_s


@registry.action("check_counterpart")
async def check_counterpart(hop: Hop) -> Outcome:
    """Refuse an unknown or own number right away, not after kWh and price; name the other person briefly."""
    user = await _need_user(hop)
    counterpart = str(hop.session.values.get("counterpart", ""))
    try:
        other = await hop.platform.users.look_up(user, counterpart)
    except DailyLimitReached as exc:
        return _limited(exc, hop)
    except EnerlectraError as exc:
        return _failure(exc, counterpart=counterpart)
    return Outcome(values={"counterpart_name": other.short_name})


@registry.action("quote_trade")
async def quote_trade(hop: Hop) -> Outcome:
    values = hop.session.values
    user = await _need_user(hop)
    price = 0 if values.get("gift") else int(values.get("price", 0))
    try:
        quote = hop.platform.trading.quote(int(values.get("wh", 0)), price)
    except EnerlectraError as exc:
        return _failure(exc)
    energy = (await hop.platform.wallet.balances(user)).wh
    if energy < quote.wh:  # say so before asking for the PIN
        return Outcome(route="insufficient_energy", values={"have_wh": energy}, keep=False)
    if price:
        counterpart = await hop.platform.users.find(str(values.get("counterpart", "")))
        most = hop.platform.config.max_open_offers_per_pair
        now = hop.platform.clock.now_us()
        if (
            counterpart is not None
            and await hop.platform.store.count_open_offers(user.id, counterpart.id, now_us=now) >= most
        ):
            return Outcome(route="too_many_open_offers", values={"max": most}, keep=False)
    values["attempt"] = int(values.get("attempt", 0)) + 1
    return Outcome(values={"cost": quote.cost_ngwee, "fee": quote.fee_ngwee, "price": price})


@registry.action("trade_energy")
async def trade_energy(hop: Hop) -> Outcome:
    verified = await _verified(hop)
    if isinstance(verified, Outcome):
        return verified
    user, values = verified.user, hop.session.values
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
    except DailyLimitReached as exc:
        return _limited(exc, hop)
    except OutflowHeld as exc:
        return Outcome(route=exc.code, keep=False)
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
            "seller_name": seller.short_name if seller else "?",
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
    verified = await _verified(hop)
    if isinstance(verified, Outcome):
        return verified
    user = verified.user
    try:
        receipt = await hop.platform.offers.accept(buyer=user, offer_id=str(hop.session.values.get("offer", "")))
    except OutflowHeld as exc:
        return Outcome(route=exc.code, keep=False)
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
    return Outcome(values={"seller_name": seller.short_name if seller else ""}, keep=False)


# --- my account ------------------------------------------------------------------------


@registry.action("profile")
async def profile(hop: Hop) -> Outcome:
    user = await _need_user(hop)
    since = local_text(user.created_at, _offset(hop), "%d/%m/%Y")
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


@registry.action("match_new_pin")
async def match_new_pin(hop: Hop) -> Outcome:
    """The new PIN typed again must match the first (a mismatch is the user's strike)."""
    pin_hash = await _confirmed_pin_hash(hop)
    return pin_hash if isinstance(pin_hash, Outcome) else Outcome()


@registry.action("change_pin")
async def change_pin(hop: Hop) -> Outcome:
    """Check the current (or one-time) PIN typed this hop and, in the same hop, set the new one.

    The proof of the checked PIN lives only in this call: nothing in the
    session says a PIN was checked, so no resumed or replayed session can
    change a PIN without typing the current one.
    """
    values = hop.session.values
    pin_hash = str(values.get(PIN_HASH, ""))
    if not pin_hash:  # the new PIN was never chosen in this session
        return Outcome(goto="pin.new")
    verified = await _verified(hop)
    if isinstance(verified, Outcome):
        return verified
    await hop.platform.users.change_pin(verified.proof, new_pin_hash=pin_hash)
    values.pop(PIN_HASH, None)
    hop.forget_user()
    hop.sms_queued = True
    hop.session.back.clear()
    return Outcome()


# --- why a journey stops at its start ------------------------------------------------


@registry.action("lock_status")
async def lock_status(hop: Hop) -> Outcome:
    """The lock as it is now, worded truthfully: minutes or hours left, or until support resets it."""
    user = await _need_user(hop)
    now = hop.platform.clock.now_us()
    if user.locked_until_reset:
        return Outcome(values={"lock_reset": 1}, keep=False)
    left_min = max(1, -(-(user.pin_locked_until - now) // (60 * MICROS_PER_SECOND)))
    values: dict[str, object] = {"minutes": left_min, "until": local_text(user.pin_locked_until, _offset(hop))}
    if left_min > 90:
        values.update(lock_hours=1, hours=-(-left_min // 60))
    return Outcome(values=values, keep=False)


@registry.action("hold_status")
async def hold_status(hop: Hop) -> Outcome:
    user = await _need_user(hop)
    return Outcome(values={"until": local_text(user.hold_until, _offset(hop))}, keep=False)


@registry.action("cap_status")
async def cap_status(hop: Hop) -> Outcome:
    """The cap that stopped the journey, worded from the settings, each time the screen is shown."""
    cap = daily_caps.Cap(str(hop.session.values.get(CAPPED, daily_caps.Cap.GIFTS)))
    limit = getattr(hop.platform.config, _CAP_LIMITS.get(cap, "gifts_per_day"))
    until = next_local_midnight_us(hop.platform.clock.now_us(), _offset(hop))
    return Outcome(values={f"cap_{cap}": 1, "limit": limit, "until": local_text(until, _offset(hop))}, keep=False)
