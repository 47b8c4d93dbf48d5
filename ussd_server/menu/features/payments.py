"""Mobile money from the wallet (menus/features/payments.yaml): deposit, withdraw, send money.

A deposit needs no Enerlectra PIN: the provider asks for the mobile-money PIN
on the handset before anything moves. A withdrawal and a send take the PIN on
the hop that makes them, like buying energy. Every refusal goes back to the
amount (or the number) with a one-line reason; a limit says the limit and
what is left.
"""

from __future__ import annotations

from engine.identity.model import User
from engine.kernel.errors import EnerlectraError, OutflowHeld, PaymentLimitReached, ProviderUnavailable
from engine.payments.model import Provider
from ussd_server.menu.context import Hop
from ussd_server.menu.features.gates import failure, need_user, verified
from ussd_server.menu.registry import Feature, Outcome

AMOUNT = "pay_ngwee"  # session value: the amount typed, in ngwee
PROVIDER = "provider"  # session value: the mobile-money provider of the caller's number
# A limit's kind (engine.payments.limits) -> the outcome the screens route on, each with its own reason.
LIMIT_ROUTES = {
    "per_transaction": "limit_per_transaction",
    "daily": "limit_daily",
    "monthly": "limit_monthly",
    "balance": "limit_balance",
    "recipient_balance": "limit_recipient",
}


def _provider(hop: Hop, user: User) -> Provider | None:
    try:
        return hop.platform.payments.provider_for(user)
    except ProviderUnavailable:
        return None


def refused(exc: EnerlectraError, **values: object) -> Outcome:
    """The route for an engine refusal: a payment limit by its kind, anything else by its code."""
    if isinstance(exc, PaymentLimitReached):
        route = LIMIT_ROUTES.get(str(exc.params.get("kind", "")), exc.code)
        return Outcome(route=route, values={**exc.params, **values}, keep=False)
    if isinstance(exc, OutflowHeld):
        return Outcome(route=exc.code, keep=False)  # the held screen words the hold itself
    return failure(exc, **values)


async def no_mobile_money(hop: Hop) -> bool:
    """No provider we can reach serves this number's network: say so before an amount is typed."""
    return _provider(hop, await need_user(hop)) is None


async def mobile_money(hop: Hop) -> Outcome:
    """The provider and the number that money comes from or goes to, and what the wallet holds."""
    user = await need_user(hop)
    provider = _provider(hop, user)
    balance = await hop.platform.wallet.balances(user)
    values = {"have": balance.ngwee, "phone": user.phone, PROVIDER: str(provider or "")}
    return Outcome(values=values, keep=False)


async def money_balance(hop: Hop) -> Outcome:
    return Outcome(values={"have": (await hop.platform.wallet.balances(await need_user(hop))).ngwee}, keep=False)


def _next_attempt(hop: Hop) -> None:
    """A new confirmation: its operation id differs from any earlier one of this session."""
    values = hop.session.values
    values["attempt"] = int(values.get("attempt", 0)) + 1


async def quote_payment(hop: Hop) -> Outcome:
    """Before the PIN: an amount the rules allow at all, and money enough for it."""
    amount = int(hop.session.values.get(AMOUNT, 0))
    smallest = hop.platform.payments.config.min_amount_ngwee
    if amount <= 0:
        return Outcome(route="amount_not_positive", keep=False)
    if amount < smallest:
        return Outcome(route="below_minimum", values={"min_ngwee": smallest}, keep=False)
    have = (await hop.platform.wallet.balances(await need_user(hop))).ngwee
    if have < amount:
        return Outcome(route="insufficient_funds", values={"ngwee": have}, keep=False)
    _next_attempt(hop)
    return Outcome()


async def start_deposit(hop: Hop) -> Outcome:
    """Ask the provider to collect the amount: the user approves it on their own handset."""
    user = await need_user(hop)
    _next_attempt(hop)
    try:
        started = await hop.platform.payments.deposit(
            user, int(hop.session.values.get(AMOUNT, 0)), operation_id=hop.operation_id("deposit")
        )
    except EnerlectraError as exc:
        return refused(exc)
    hop.session.back.clear()
    payment = started.payment
    return Outcome(values={"ngwee": payment.amount_ngwee, "ref": payment.reference}, keep=False)


async def start_withdrawal(hop: Hop) -> Outcome:
    """Reserve the amount now (the PIN typed this hop); the provider pays it out after."""
    checked = await verified(hop)
    if isinstance(checked, Outcome):
        return checked
    user = checked.user
    try:
        started = await hop.platform.payments.withdraw(
            checked.proof, user, int(hop.session.values.get(AMOUNT, 0)), operation_id=hop.operation_id("withdraw")
        )
    except EnerlectraError as exc:
        balance = await hop.platform.wallet.balances(user)
        return refused(exc, ngwee=balance.ngwee)
    hop.session.back.clear()
    payment = started.payment
    values = {"ngwee": payment.amount_ngwee, "ref": payment.reference, PROVIDER: str(payment.provider)}
    return Outcome(values={**values, "phone": payment.msisdn}, keep=False)


async def send_money(hop: Hop) -> Outcome:
    """Move the amount to the other wallet at once; both get an SMS."""
    checked = await verified(hop)
    if isinstance(checked, Outcome):
        return checked
    user, values = checked.user, hop.session.values
    try:
        receipt = await hop.platform.money.send(
            checked.proof,
            user,
            str(values.get("counterpart", "")),
            int(values.get(AMOUNT, 0)),
            operation_id=hop.operation_id("send"),
        )
    except EnerlectraError as exc:
        balance = await hop.platform.wallet.balances(user)
        return refused(exc, ngwee=balance.ngwee, counterpart=str(values.get("counterpart", "")))
    hop.sms_queued = True
    hop.session.back.clear()
    after = await hop.platform.wallet.balances(user)
    payment = receipt.payment
    return Outcome(
        values={
            "ngwee": payment.amount_ngwee,
            "ref": payment.reference,
            "counterpart_name": receipt.recipient_name,
            "balance": after.ngwee,
        },
        keep=False,
    )


FEATURE = Feature(
    name="payments",
    actions={
        "mobile_money": mobile_money,
        "money_balance": money_balance,
        "quote_payment": quote_payment,
        "start_deposit": start_deposit,
        "start_withdrawal": start_withdrawal,
        "send_money": send_money,
    },
    conditions={"no_mobile_money": no_mobile_money},
)
