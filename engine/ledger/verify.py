"""``ledger verify``: recompute the hash chain and every balance from history.

Checks, in order: sequence numbers run 1..n without gaps; every stored hash
equals SHA-256(previous stored hash || canonical entry); the recorded chain
head is the last entry; replaying every transfer reproduces every account's
four counters; per ledger, debits equal credits; no flagged account is
overdrawn. The first broken entry is named.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from engine.ledger.chain import GENESIS_HASH, entry_hash
from engine.ledger.model import Account, AccountFlags, TransferFlags
from engine.ledger.ports import LedgerReader
from engine.ledger.rules import balance_deltas

PAGE = 5000


@dataclass(slots=True)
class VerifyReport:
    entries: int = 0
    accounts: int = 0
    problems: list[str] = field(default_factory=list)
    first_bad_seq: int | None = None
    first_bad_id: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, problem: str, *, seq: int | None = None, transfer_id: str | None = None) -> None:
        if self.first_bad_seq is None and seq is not None:
            self.first_bad_seq, self.first_bad_id = seq, transfer_id
        self.problems.append(problem)


async def verify_ledger(reader: LedgerReader, *, max_problems: int = 20) -> VerifyReport:
    report = VerifyReport()
    counters: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    pending_amounts: dict[str, int] = {}
    previous_hash, expected_seq = GENESIS_HASH, 1
    while len(report.problems) < max_problems:
        page = await reader.chain_entries(after_seq=expected_seq - 1, limit=PAGE)
        if not page:
            break
        for record in page:
            where = f"entry seq={record.seq} id={record.id!r}"
            if record.seq != expected_seq:
                report.fail(
                    f"{where}: sequence gap, expected seq={expected_seq}", seq=record.seq, transfer_id=record.id
                )
            if entry_hash(previous_hash, record) != record.hash:
                report.fail(
                    f"{where}: hash mismatch (entry or its predecessor altered)", seq=record.seq, transfer_id=record.id
                )
            if record.flags & TransferFlags.PENDING:
                pending_amounts[record.id] = record.amount
            resolved = pending_amounts.get(record.pending_id or "", 0)
            for account_id, dp, dpo, cp, cpo in balance_deltas(record, resolved):
                c = counters[account_id]
                c[0] += dp
                c[1] += dpo
                c[2] += cp
                c[3] += cpo
            previous_hash, expected_seq = record.hash, record.seq + 1
            report.entries += 1
    head_seq, head_hash = await reader.chain_head()
    if (head_seq, head_hash) != (expected_seq - 1, previous_hash):
        report.fail(
            f"chain head says seq={head_seq} but the last entry is seq={expected_seq - 1} "
            "(entries removed or head altered)",
            seq=min(head_seq, expected_seq - 1) + 1,
        )
    await _check_accounts(reader, counters, report)
    return report


async def _check_accounts(reader: LedgerReader, counters: dict[str, list[int]], report: VerifyReport) -> None:
    debits: dict[str, int] = defaultdict(int)
    credits: dict[str, int] = defaultdict(int)
    after = ""
    seen: set[str] = set()
    while True:
        accounts = await reader.list_accounts(after_id=after, limit=PAGE)
        if not accounts:
            break
        for account in accounts:
            seen.add(account.id)
            report.accounts += 1
            _check_account(account, counters.get(account.id, [0, 0, 0, 0]), report)
            debits[account.ledger] += account.debits_pending + account.debits_posted
            credits[account.ledger] += account.credits_pending + account.credits_posted
        after = accounts[-1].id
    for ledger in sorted(set(debits) | set(credits)):
        if debits[ledger] != credits[ledger]:
            report.fail(f"ledger {ledger}: debits {debits[ledger]} != credits {credits[ledger]}")
    for missing in sorted(set(counters) - seen):
        report.fail(f"transfers name account {missing!r}, which does not exist")


def _check_account(account: Account, replayed: list[int], report: VerifyReport) -> None:
    stored = [account.debits_pending, account.debits_posted, account.credits_pending, account.credits_posted]
    if stored != replayed:
        report.fail(
            f"account {account.id!r}: stored counters {stored} differ from history {replayed} "
            "(debits pending/posted, credits pending/posted)"
        )
    if account.flags & AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS and (
        account.debits_pending + account.debits_posted > account.credits_posted
    ):
        report.fail(f"account {account.id!r} is overdrawn")
    if account.flags & AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS and (
        account.credits_pending + account.credits_posted > account.debits_posted
    ):
        report.fail(f"account {account.id!r} exceeds its debits")
