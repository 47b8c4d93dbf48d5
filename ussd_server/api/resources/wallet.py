"""The signed-in user's wallet: balances, history (paged), the mini-statement, carbon; transactions by reference."""

from __future__ import annotations

import base64
import binascii

from engine.kernel.errors import InvalidInput, TransactionNotFound
from engine.kernel.references import normalize_reference
from ussd_server.api import scopes
from ussd_server.api.models.common import PageMeta
from ussd_server.api.models.energy import Carbon
from ussd_server.api.models.wallet import HistoryQuery, Movement, StatementEntry, Transaction, TransferView, Wallet
from ussd_server.api.routing import Call, Reply, Route

_CURSOR_VERSION = "h1."
STATEMENT_LINES = 12  # as many operations as the USSD mini-statement shows


def encode_cursor(before: int, version: str = _CURSOR_VERSION) -> str:
    """Opaque to clients: its form may change, so nothing may be built on it (``version`` tells lists apart)."""
    return base64.urlsafe_b64encode(f"{version}{before}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str, version: str = _CURSOR_VERSION) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    number = text.removeprefix(version)
    if not text.startswith(version) or not number.isdigit() or len(number) > 18:
        raise InvalidInput("query cursor: not a cursor this API gave out", field="cursor")
    return int(number)


async def wallet(call: Call) -> Reply:
    return Reply(Wallet.of(await call.platform.wallet.balances(call.user())))


async def history(call: Call) -> Reply:
    query = call.query_as(HistoryQuery)
    before = decode_cursor(query.cursor) if query.cursor is not None else None
    page = await call.platform.wallet.history(call.user(), limit=query.limit, before_seq=before)
    cursor = encode_cursor(page.next_before_seq) if page.next_before_seq is not None else None
    return Reply([Movement.of(e) for e in page.entries], meta=PageMeta(next_cursor=cursor, limit=query.limit))


async def statement(call: Call) -> Reply:
    user = call.user()
    lines = await call.platform.wallet.statement(user, limit=STATEMENT_LINES)
    payments = {p.reference: p for p in await call.platform.payments.history(user, limit=STATEMENT_LINES)}
    return Reply([StatementEntry.of(line, payments.get(line.reference), user.id) for line in lines])


async def carbon(call: Call) -> Reply:
    return Reply(Carbon.of(await call.platform.carbon.for_user(call.user())))


async def transaction(call: Call) -> Reply:
    reference = normalize_reference(call.path("reference"))
    if reference is None:  # no transaction can have it
        raise TransactionNotFound("no transaction with that reference (they look like K7M3Q-9XP2A)")
    viewer = call.principal.user  # a user sees their own; an operator's key sees any
    records = await call.platform.wallet.transaction(reference, viewer=viewer)
    return Reply(Transaction(reference=reference, transfers=[TransferView.of(r) for r in records]))


ROUTES = (
    Route("GET", "/wallet", wallet, "Your balances", "wallet", scopes.USER, data=Wallet),
    Route(
        "GET",
        "/wallet/history",
        history,
        "Your settled movements, newest first",
        "wallet",
        scopes.USER,
        data=list[Movement],
        query=HistoryQuery,
        paged=True,
        description="Page with `cursor` = the previous page's `meta.next_cursor` (opaque). "
        "An offer shows once, when it is paid.",
    ),
    Route(
        "GET",
        "/wallet/statement",
        statement,
        "Your mini-statement: one line per operation",
        "wallet",
        scopes.USER,
        data=list[StatementEntry],
    ),
    Route("GET", "/carbon", carbon, "Your carbon savings", "carbon", scopes.USER, data=Carbon),
    Route(
        "GET",
        "/transactions/{reference}",
        transaction,
        "A transaction by its reference",
        "transactions",
        scopes.USER_OR_ADMIN,
        data=Transaction,
        description="A user sees transactions of their own wallet only (`TRANSACTION_NOT_FOUND` otherwise); "
        "an `admin` key sees any.",
        path_patterns={"reference": r"^[A-Za-z0-9 -]{10,16}$"},
    ),
)
