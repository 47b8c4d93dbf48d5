"""The wallet (menus/features/wallet.yaml): balances, the mini-statement, carbon savings.

The mini-statement names mobile money too: a deposit, a withdrawal, money sent
to or received from someone (by name), from the ledger; and, from the
payments, a withdrawal still reserved and a deposit still waiting for approval.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.kernel.local_time import local_text
from engine.kernel.units import format_energy, format_money
from engine.payments.model import Direction, Payment
from engine.wallet.views import StatementKind, StatementLine
from ussd_server.gsm7 import gsm7_length, to_gsm7
from ussd_server.i18n import Catalogs
from ussd_server.menu.context import Hop
from ussd_server.menu.features.gates import need_user
from ussd_server.menu.registry import Feature, Item, Outcome
from ussd_server.menu.reply import TEXT_BUDGET

STATEMENT_KEYS: dict[StatementKind, str] = {
    StatementKind.CLUSTER_PURCHASE: "stmt.cluster",
    StatementKind.BOUGHT: "stmt.bought",
    StatementKind.SOLD: "stmt.sold",
    StatementKind.GIFT_RECEIVED: "stmt.gift_in",
    StatementKind.GIFT_SENT: "stmt.gift_out",
    StatementKind.WELCOME_BONUS: "stmt.bonus",
    StatementKind.DEPOSIT: "stmt.deposit",
    StatementKind.WITHDRAWAL: "stmt.withdrawal",
    StatementKind.MONEY_SENT: "stmt.money_out",
    StatementKind.MONEY_RECEIVED: "stmt.money_in",
    StatementKind.OTHER: "stmt.other",
}
STATEMENT_LINES = 12  # operations on the mini-statement
STATEMENT_LINES_PER_PAGE = 3  # the fewest a statement page may show
# A payment not final yet moved no settled money: a withdrawal's amount is reserved, a deposit awaits approval.
OPEN_PAYMENT_KEYS = {Direction.DEPOSIT: "stmt.deposit_pending", Direction.WITHDRAWAL: "stmt.withdrawal_held"}


@dataclass(frozen=True, slots=True)
class _Row:
    """One mini-statement line before it is worded: its catalog key and amounts."""

    timestamp: int
    key: str
    ngwee: int
    wh: int = 0
    counterparty: str = ""
    signed: bool = True  # "+K5.00"; an amount not yet moved is shown without a sign


async def balances(hop: Hop) -> Outcome:
    b = await hop.platform.wallet.balances(await need_user(hop))
    return Outcome(values={"ngwee": b.ngwee, "wh": b.wh}, keep=False)


async def carbon(hop: Hop) -> Outcome:
    """Equivalents only where they mean something: a tree or a kilometre, not 0.0 of one."""
    report = await hop.platform.carbon.for_user(await need_user(hop))
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


async def statement(hop: Hop) -> list[Item]:
    user = await need_user(hop)
    lines = await hop.platform.wallet.statement(user, limit=STATEMENT_LINES)
    payments = await hop.platform.payments.history(user, limit=STATEMENT_LINES)
    rows = statement_rows(lines, payments)[:STATEMENT_LINES]
    room = statement_line_room(hop.catalogs, hop.session.language)
    offset = hop.platform.config.local_utc_offset_s
    items = []
    for reference, row in rows:
        when = local_text(row.timestamp, offset, "%d/%m")  # the day as the person lived it
        items.append(Item(reference, {"when": when, "what": _statement_what(hop, row, when, room)}))
    return items


def statement_rows(lines: list[StatementLine], payments: list[Payment]) -> list[tuple[str, _Row]]:
    """The ledger's operations, and payments still open (from the payments); newest first."""
    rows = [(line.reference, _row(line)) for line in lines]
    shown = {line.reference for line in lines}
    for payment in payments:
        key = OPEN_PAYMENT_KEYS.get(payment.direction)
        if key is None or payment.final or payment.reference in shown:
            continue
        ngwee = -payment.amount_ngwee if payment.direction is Direction.WITHDRAWAL else payment.amount_ngwee
        signed = payment.direction is Direction.WITHDRAWAL  # reserved: it has left what can be spent
        rows.append((payment.reference, _Row(payment.created_at, key, ngwee, signed=signed)))
    return sorted(rows, key=lambda row: row[1].timestamp, reverse=True)


def _row(line: StatementLine) -> _Row:
    return _Row(line.timestamp, STATEMENT_KEYS[line.kind], line.ngwee, line.wh, line.counterparty)


def statement_line_room(catalogs: Catalogs, language: str) -> int:
    """The longest statement line that still lets a page show three, beside its title, "98 More" and navigation."""
    fixed = sum(
        gsm7_length(catalogs.text(language, key)) + 1 for key in ("statement.title", "nav.more", "nav.back_home")
    )
    return (TEXT_BUDGET - fixed) // STATEMENT_LINES_PER_PAGE - 1


def _statement_what(hop: Hop, line: _Row, when: str, room: int) -> str:
    """What happened and with whom, from the kind's text; a name too long for ``room`` is shortened."""
    money = ("+" if line.ngwee > 0 and line.signed else "") + format_money(line.ngwee)
    energy = ("+" if line.wh > 0 else "") + format_energy(line.wh)
    amount = money if line.ngwee or not line.wh else energy  # only "other" lines may move energy alone
    name = to_gsm7(line.counterparty)
    while True:
        what = hop.text(line.key, wh=abs(line.wh), name=name, amount=amount)
        if len(name) <= 1 or gsm7_length(hop.text("statement.item", when=when, what=what)) <= room:
            return what
        # Whole words go first ("Kabulonga Micro-Grid" -> "Kabulonga", "Mwila B." -> "Mwila"),
        # then letters: the amount and the kind always show in full.
        words = name.split()
        name = " ".join(words[:-1]) if len(words) > 1 else name[:-1]


FEATURE = Feature(
    name="wallet",
    actions={"balances": balances, "carbon": carbon},
    sources={"statement": statement},
)
