"""Mobile money, as on USSD: deposits, withdrawals, sends between wallets; operators settle stuck payments.

A deposit needs no PIN: the provider asks the user for their mobile-money PIN
on their own handset before anything moves, so a partner may start one for a
user too. A withdrawal or a send takes money out of a wallet: only its owner,
with their PIN in the request. Every POST that moves money needs an
``Idempotency-Key``; the payment's id is derived from it, so a retry starts
nothing new.
"""

from __future__ import annotations

from engine.access.model import Scope
from engine.identity.model import User
from engine.kernel.errors import Forbidden, PaymentNotFound, UserNotFound
from engine.payments.model import PaymentState
from ussd_server.api import scopes
from ussd_server.api.models.common import PageMeta
from ussd_server.api.models.payments import (
    MoneySent,
    PaymentsQuery,
    PaymentView,
    ResolvePayment,
    SendMoney,
    StartDeposit,
    StartWithdrawal,
)
from ussd_server.api.pins import verified
from ussd_server.api.resources.wallet import decode_cursor, encode_cursor
from ussd_server.api.routing import Call, Idempotency, Reply, Route
from ussd_server.phones import parse_zambian_mobile

PHONE_PATTERN = r"^[0-9+()\-. ]{9,20}$"
PAYMENT_ID_PATTERN = r"^[A-Za-z0-9:_-]{1,100}$"
_CURSOR_VERSION = "p1."  # a payments page's cursor: the creation time of its last payment
_PHONE = {"phone": PHONE_PATTERN}
_PAYMENT = {"payment_id": PAYMENT_ID_PATTERN}
_OUTCOMES = {"successful": PaymentState.SUCCESSFUL, "failed": PaymentState.FAILED}


def _own(call: Call) -> User:
    """The signed-in user, if the path names their own number (a token never acts for anyone else)."""
    user = call.user()
    if parse_zambian_mobile(call.path("phone")) != user.phone:
        raise Forbidden("a user's token acts for its own number only", needs=Scope.PARTNER.value)
    return user


async def _named(call: Call) -> User:
    """The user the path names: a user's own number with their token, any registered number with a key."""
    if call.principal.user is not None:
        return _own(call)
    user = await call.platform.users.find(parse_zambian_mobile(call.path("phone")))
    if user is None:
        raise UserNotFound("no user with that phone number")
    return user


async def deposit(call: Call) -> Reply:
    body, user = call.body_as(StartDeposit), await _named(call)
    started = await call.platform.payments.deposit(
        user, body.amount_ngwee, provider=body.provider, operation_id=call.operation_id
    )
    return Reply(PaymentView.of(started.payment, viewer_id=user.id), status=202)


async def withdraw(call: Call) -> Reply:
    body, user = call.body_as(StartWithdrawal), _own(call)
    proof = await verified(call, user, body.pin)
    started = await call.platform.payments.withdraw(
        proof, user, body.amount_ngwee, provider=body.provider, operation_id=call.operation_id
    )
    return Reply(PaymentView.of(started.payment, viewer_id=user.id), status=202)


async def send(call: Call) -> Reply:
    body, user = call.body_as(SendMoney), _own(call)
    to = parse_zambian_mobile(body.to_phone)
    proof = await verified(call, user, body.pin)
    receipt = await call.platform.money.send(proof, user, to, body.amount_ngwee, operation_id=call.operation_id)
    return Reply(MoneySent.of(receipt), status=201)


async def payments(call: Call) -> Reply:
    query, user = call.query_as(PaymentsQuery), await _named(call)
    before = decode_cursor(query.cursor, _CURSOR_VERSION) if query.cursor is not None else None
    found = await call.platform.payments.history(user, limit=query.limit + 1, before_us=before)
    page = found[: query.limit]
    cursor = encode_cursor(page[-1].created_at, _CURSOR_VERSION) if len(found) > query.limit else None
    views = [PaymentView.of(p, viewer_id=user.id) for p in page]
    return Reply(views, meta=PageMeta(next_cursor=cursor, limit=query.limit))


async def payment(call: Call) -> Reply:
    found = await call.platform.payments.get(call.path("payment_id"))
    viewer = call.principal.user
    if viewer is not None and viewer.id not in (found.user_id, found.counterparty_id):
        raise PaymentNotFound("no such payment", payment=found.id)  # the same answer as for no payment at all
    return Reply(PaymentView.of(found, viewer_id=viewer.id if viewer else None))


async def review_queue(call: Call) -> Reply:
    return Reply([PaymentView.of(p) for p in await call.platform.payments.review_queue()])


async def resolve(call: Call) -> Reply:
    body = call.body_as(ResolvePayment)
    resolved = await call.platform.payments.resolve(call.path("payment_id"), _OUTCOMES[body.outcome], body.note)
    return Reply(PaymentView.of(resolved))


async def recheck(call: Call) -> Reply:
    return Reply(PaymentView.of(await call.platform.payments.recheck(call.path("payment_id"))))


_LIMITS = (
    "Refused with `PAYMENT_LIMIT` (422) over the user's KYC tier: `details.kind` (`per_transaction`, `daily`, "
    "`monthly`, `balance`), `limit_ngwee` and `left_ngwee`, what may still move. "
)

ROUTES = (
    Route(
        "POST",
        "/users/{phone}/deposits",
        deposit,
        "Start a deposit from the user's mobile money",
        "payments",
        scopes.USER_OR_PARTNER,
        data=PaymentView,
        status=202,
        body=StartDeposit,
        idempotency=Idempotency.REQUIRED,
        kind="deposit",
        path_patterns=_PHONE,
        description="No Enerlectra PIN: the provider asks the user to approve on their own handset, and the "
        "wallet is credited when the provider confirms (the user gets an SMS). A user's token may deposit to its "
        "own number only; a `partner` key to any registered number. " + _LIMITS + "`PROVIDER_UNAVAILABLE` (422) "
        "when no provider serves the number's network.",
    ),
    Route(
        "POST",
        "/users/{phone}/withdrawals",
        withdraw,
        "Withdraw to the user's mobile money",
        "payments",
        scopes.USER,
        data=PaymentView,
        status=202,
        body=StartWithdrawal,
        idempotency=Idempotency.REQUIRED,
        kind="withdrawal",
        pin=True,
        path_patterns=_PHONE,
        description="The amount is reserved at once (gone from the spendable balance) and paid out by the "
        "provider after; if the provider fails, the reservation is released. The user gets an SMS either way. "
        + _LIMITS,
    ),
    Route(
        "POST",
        "/users/{phone}/transfers",
        send,
        "Send money to another wallet",
        "payments",
        scopes.USER,
        data=MoneySent,
        status=201,
        body=SendMoney,
        idempotency=Idempotency.REQUIRED,
        kind="send",
        pin=True,
        path_patterns=_PHONE,
        description="Settled at once; both get an SMS. Money, not energy (energy is given with `POST /gifts`). "
        "`COUNTERPARTY_NOT_FOUND` (404) for a number without an account. "
        + _LIMITS.replace("`balance`", "`recipient_balance`"),
    ),
    Route(
        "GET",
        "/users/{phone}/payments",
        payments,
        "A user's payments, newest first",
        "payments",
        scopes.USER_OR_PARTNER,
        data=list[PaymentView],
        query=PaymentsQuery,
        paged=True,
        path_patterns=_PHONE,
        description="Deposits, withdrawals and sends, made or received (`received`). Page with `cursor` = the "
        "previous page's `meta.next_cursor` (opaque). A user's token reads its own number only.",
    ),
    Route(
        "GET",
        "/payments/review",
        review_queue,
        "Payments waiting for an operator, oldest first",
        "payments",
        scopes.ADMINS,
        data=list[PaymentView],
        description="The provider gave no final answer in time. Check with the provider, then resolve each.",
    ),
    Route(
        "GET",
        "/payments/{payment_id}",
        payment,
        "One payment",
        "payments",
        scopes.USER_OR_PARTNER,
        data=PaymentView,
        path_patterns=_PAYMENT,
        description="A user's token sees its own payments only (`PAYMENT_NOT_FOUND` otherwise).",
    ),
    Route(
        "POST",
        "/payments/{payment_id}/resolve",
        resolve,
        "Settle a payment the provider never settled (operators)",
        "payments",
        scopes.ADMINS,
        data=PaymentView,
        body=ResolvePayment,
        idempotency=Idempotency.REQUIRED,
        kind="resolve",
        path_patterns=_PAYMENT,
        description="After checking with the provider: `successful` credits a deposit or pays out a withdrawal, "
        "`failed` releases it; the user gets an SMS. `PAYMENT_FINAL` (422) for a payment that has ended.",
    ),
    Route(
        "POST",
        "/payments/{payment_id}/recheck",
        recheck,
        "Ask the provider about a payment now (operators)",
        "payments",
        scopes.ADMINS,
        data=PaymentView,
        idempotency=Idempotency.OPTIONAL,
        kind="recheck",
        path_patterns=_PAYMENT,
        description="Settles it if the provider has a final answer; otherwise it stays as it is. A payment that "
        "has ended is answered as it stands.",
    ),
)
