"""After a drill: is every receipt a caller saw in the ledger exactly once, with its SMS, and does it all add up?

Read from the database with a store of the test's own (both backends), never
through the server under test.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from engine.kernel.references import format_reference, normalize_reference
from engine.ledger.model import Account, AccountFlags, Ledger, TransferRecord
from engine.ledger.verify import verify_ledger
from engine.notifications.model import OutboxRow, OutboxStatus
from engine.uow import Database as Store
from tests.drills.load import EXPECTED_SMS, EXPECTED_TRANSFERS, Receipt
from tests.drills.stack import Stack

ALL = 10_000_000


@dataclass
class Audit:
    """Everything found wrong, in words an operator would use; empty when all is well."""

    problems: list[str] = field(default_factory=list)
    operations: int = 0  # distinct references in the ledger
    sms: Counter[str] = field(default_factory=Counter)  # the receipts' outbox rows by status

    def fail(self, problem: str) -> None:
        self.problems.append(problem)


async def all_accounts(store: Store) -> list[Account]:
    accounts: list[Account] = []
    while page := await store.ledger.list_accounts(after_id=accounts[-1].id if accounts else "", limit=1000):
        accounts += page
    return accounts


async def audit_ledger(stack: Stack, receipts: Sequence[Receipt]) -> Audit:
    """Receipts exactly once with their SMS rows, no wallet below zero, the chain and balances verify."""
    audit = Audit()
    store = await stack.open_store()
    try:
        entries = await store.ledger.chain_entries(after_seq=0, limit=ALL)
        by_ref: dict[str, list[TransferRecord]] = defaultdict(list)
        for entry in entries:
            by_ref[entry.reference].append(entry)
        audit.operations = len(by_ref)
        outbox: dict[str, list[OutboxRow]] = defaultdict(list)
        for phone in {p for r in receipts for p in (r.phone, r.counterpart) if p}:
            for row in await store.outbox.list_outbox(recipient=phone, limit=ALL):
                outbox[str(row.message.params.get("ref", ""))].append(row)
        seen: set[str] = set()
        for receipt in receipts:
            check_receipt(audit, receipt, by_ref.get(receipt.ref, []), outbox.get(receipt.ref, []), seen)
        for account in await all_accounts(store):
            if account.flags & AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS and account.balance < 0:
                audit.fail(f"wallet {account.id} is negative: {account.balance}")
        report = await verify_ledger(store.ledger)
        if not report.ok:
            audit.fail(f"verify_ledger: {report.problems}")
    finally:
        await store.close()
    return audit


def check_receipt(
    audit: Audit, receipt: Receipt, transfers: list[TransferRecord], sms: list[OutboxRow], seen: set[str]
) -> None:
    ref = format_reference(receipt.ref)
    assert normalize_reference(ref) == receipt.ref, f"a receipt showed a malformed reference: {receipt.body!r}"
    if receipt.ref in seen:
        audit.fail(f"two receipts showed the same reference {ref}: {receipt.body!r}")
    seen.add(receipt.ref)
    if len(transfers) != EXPECTED_TRANSFERS[receipt.kind]:
        audit.fail(
            f"receipt {ref} ({receipt.kind} by {receipt.phone}) has {len(transfers)} transfers in the ledger, "
            f"expected {EXPECTED_TRANSFERS[receipt.kind]}: {receipt.body!r}"
        )
        return
    energy = [t.amount for t in transfers if t.ledger is Ledger.KWH]
    money = [t.amount for t in transfers if t.ledger is Ledger.ZMW]
    if energy != [receipt.wh] or money != ([receipt.cost] if receipt.cost else []):
        audit.fail(
            f"receipt {ref} promised {receipt.wh} Wh for {receipt.cost} ngwee; ledger moved {energy} Wh, {money}"
        )
    if len(sms) != EXPECTED_SMS[receipt.kind]:
        audit.fail(
            f"receipt {ref} ({receipt.kind}) has {len(sms)} SMS outbox rows, expected {EXPECTED_SMS[receipt.kind]}"
        )
    for row in sms:
        audit.sms[str(row.status)] += 1
        if row.status is OutboxStatus.DEAD:
            audit.fail(f"receipt {ref}: SMS to {row.message.recipient} is dead: {row.last_error}")


async def cli_verify(stack: Stack) -> tuple[int, str]:
    """``enerlectra ledger verify`` on the drill database, as an operator would run it after an incident."""
    return await stack.cli("ledger", "verify")


@dataclass(frozen=True)
class Wallets:
    """Every caller's money (ngwee) and energy (Wh), and how far the ledger had got."""

    balances: dict[str, tuple[int, int]]
    chain_seq: int


async def wallets(stack: Stack) -> Wallets:
    store = await stack.open_store()
    try:
        balances = {}
        for user in stack.callers:
            accounts = await store.ledger.lookup_accounts([user.zmw_account_id, user.kwh_account_id])
            balances[user.phone] = (accounts[user.zmw_account_id].balance, accounts[user.kwh_account_id].balance)
        seq, _ = await store.ledger.chain_head()
        return Wallets(balances, seq)
    finally:
        await store.close()


def expected_wallets(before: Wallets, receipts: Sequence[Receipt]) -> dict[str, tuple[int, int]]:
    """What every caller should hold if each receipt was applied exactly once and nothing else moved."""
    expected = {phone: list(b) for phone, b in before.balances.items()}
    for r in receipts:
        expected[r.phone][0] -= r.cost
        expected[r.phone][1] += r.wh if r.kind == "buy" else -r.wh
        if r.counterpart:
            expected[r.counterpart][1] += r.wh
    return {phone: (ngwee, wh) for phone, (ngwee, wh) in expected.items()}


async def operations_since(stack: Stack, seq: int) -> set[str]:
    """The references of every ledger operation applied after chain position ``seq``."""
    store = await stack.open_store()
    try:
        return {e.reference for e in await store.ledger.chain_entries(after_seq=seq, limit=ALL)}
    finally:
        await store.close()
