"""The ledger's rules, as pure functions over snapshots of accounts.

Storage adapters load and lock the accounts a batch touches, call
:func:`apply_transfers`, then persist the outcome in the same database
transaction. Both backends therefore share one implementation of every rule,
and ``ledger verify`` replays history with the same :func:`balance_deltas`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from engine.kernel.units import MAX_NGWEE, MAX_WH
from engine.ledger.model import (
    Account,
    AccountFlags,
    CreateTransferResult,
    Ledger,
    PendingState,
    PendingStatus,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferRecord,
)

R = CreateTransferResult
MAX_ID_LENGTH = 128
MAX_AMOUNT = {Ledger.ZMW: MAX_NGWEE, Ledger.KWH: MAX_WH}
_PHASE_FLAGS = TransferFlags.PENDING | TransferFlags.POST_PENDING | TransferFlags.VOID_PENDING

# (account id, debits_pending, debits_posted, credits_pending, credits_posted)
Delta = tuple[str, int, int, int, int]


@dataclass(slots=True)
class BatchOutcome:
    """What a batch did: one result per transfer plus everything to persist."""

    results: list[CreateTransferResult]
    records: list[TransferRecord] = field(default_factory=list)  # new, in apply order
    accounts: dict[str, Account] = field(default_factory=dict)  # changed accounts, final state
    pending_status: dict[str, PendingStatus] = field(default_factory=dict)  # changed pendings


def balance_deltas(record: TransferRecord, pending_amount: int) -> tuple[Delta, Delta]:
    """How one applied transfer moves its two accounts' counters.

    ``pending_amount`` is the amount of the pending transfer that a post, void
    or expiry resolves (ignored for other transfers).
    """
    dr, cr, amount = record.debit_account_id, record.credit_account_id, record.amount
    flags = record.flags
    if flags & TransferFlags.PENDING:
        return (dr, amount, 0, 0, 0), (cr, 0, 0, amount, 0)
    if flags & TransferFlags.POST_PENDING:
        return (dr, -pending_amount, amount, 0, 0), (cr, 0, 0, -pending_amount, amount)
    if flags & (TransferFlags.VOID_PENDING | TransferFlags.EXPIRE_PENDING):
        return (dr, -pending_amount, 0, 0, 0), (cr, 0, 0, -pending_amount, 0)
    return (dr, 0, amount, 0, 0), (cr, 0, 0, 0, amount)


def _apply_delta(account: Account, delta: Delta) -> Account:
    _, dp, dpo, cp, cpo = delta
    return account.with_balances(
        account.debits_pending + dp,
        account.debits_posted + dpo,
        account.credits_pending + cp,
        account.credits_posted + cpo,
    )


class _State:
    """Working copy of everything a batch may change, with cheap rollback."""

    def __init__(
        self,
        accounts: Mapping[str, Account],
        existing: Mapping[str, TransferRecord],
        pendings: Mapping[str, PendingState],
    ) -> None:
        self.accounts = dict(accounts)
        self.existing = existing
        self.pendings = dict(pendings)
        self.created: dict[str, TransferRecord] = {}
        self.changed_accounts: set[str] = set()
        self.changed_pendings: set[str] = set()

    def snapshot(self) -> tuple[dict[str, Account], dict[str, PendingState], dict[str, TransferRecord]]:
        return dict(self.accounts), dict(self.pendings), dict(self.created)

    def restore(self, snap: tuple[dict[str, Account], dict[str, PendingState], dict[str, TransferRecord]]) -> None:
        self.accounts, self.pendings, self.created = dict(snap[0]), dict(snap[1]), dict(snap[2])

    def lookup(self, transfer_id: str) -> TransferRecord | None:
        return self.created.get(transfer_id) or self.existing.get(transfer_id)

    def move(self, record: TransferRecord, pending_amount: int = 0) -> None:
        for delta in balance_deltas(record, pending_amount):
            self.accounts[delta[0]] = _apply_delta(self.accounts[delta[0]], delta)
            self.changed_accounts.add(delta[0])


def _split_chains(transfers: Sequence[Transfer]) -> list[tuple[list[int], bool]]:
    """Group indexes into linked chains; the flag says whether a chain was left open."""
    chains: list[tuple[list[int], bool]] = []
    current: list[int] = []
    for i, t in enumerate(transfers):
        current.append(i)
        if not t.flags & TransferFlags.LINKED:
            chains.append((current, False))
            current = []
    if current:
        chains.append((current, True))
    return chains


def apply_transfers(
    transfers: Sequence[Transfer],
    *,
    accounts: Mapping[str, Account],
    existing: Mapping[str, TransferRecord],
    pendings: Mapping[str, PendingState],
    now_us: int,
) -> BatchOutcome:
    """Apply a batch of transfers to snapshots of the accounts it touches.

    ``accounts`` must hold every account the batch names (including those of
    referenced pending transfers); ``existing`` every stored transfer whose id
    the batch uses or references; ``pendings`` the live state of referenced
    pending transfers. Chains of ``LINKED`` transfers succeed or fail whole.
    """
    state = _State(accounts, existing, pendings)
    results: list[CreateTransferResult] = [R.OK] * len(transfers)
    ordered: list[TransferRecord] = []

    for indexes, open_chain in _split_chains(transfers):
        if open_chain:
            for i in indexes:
                results[i] = R.LINKED_EVENT_CHAIN_OPEN
            continue
        snap = state.snapshot()
        chain_records: list[TransferRecord] = []
        failed_at: int | None = None
        for i in indexes:
            result, record = _apply_one(transfers[i], state, now_us)
            results[i] = result
            if not result.applied:
                failed_at = i
                break
            if record is not None:
                chain_records.append(record)
        if failed_at is None:
            ordered.extend(chain_records)
            continue
        state.restore(snap)
        for i in indexes:
            if i != failed_at:
                results[i] = R.LINKED_EVENT_FAILED

    new_ids = {r.id for r in ordered}
    return BatchOutcome(
        results=results,
        records=ordered,
        accounts={a: state.accounts[a] for a in state.changed_accounts if state.accounts[a] != accounts.get(a)},
        pending_status={
            p: state.pendings[p].status
            for p in state.changed_pendings
            if p in state.pendings
            and (p in new_ids or pendings.get(p) is None or pendings[p].status != state.pendings[p].status)
        },
    )


def _apply_one(t: Transfer, state: _State, now_us: int) -> tuple[CreateTransferResult, TransferRecord | None]:
    if not t.id:
        return R.ID_MUST_NOT_BE_EMPTY, None
    if len(t.id) > MAX_ID_LENGTH:
        return R.ID_TOO_LONG, None
    previous = state.lookup(t.id)
    if previous is not None:
        same = previous.request_fields() == t.request_fields()
        return (R.EXISTS if same else R.EXISTS_WITH_DIFFERENT_FIELDS), None
    if t.flags & TransferFlags.EXPIRE_PENDING:
        return R.RESERVED_FLAG, None
    if bin(int(t.flags & _PHASE_FLAGS)).count("1") > 1:
        return R.FLAGS_ARE_MUTUALLY_EXCLUSIVE, None
    if t.timeout_s < 0:
        return R.TIMEOUT_MUST_NOT_BE_NEGATIVE, None
    if t.timeout_s and not t.flags & TransferFlags.PENDING:
        return R.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER, None
    if t.flags & (TransferFlags.POST_PENDING | TransferFlags.VOID_PENDING):
        return _resolve_pending(t, state, now_us)
    return _apply_new(t, state, now_us)


def _apply_new(t: Transfer, state: _State, now_us: int) -> tuple[CreateTransferResult, TransferRecord | None]:
    if t.pending_id is not None:
        return R.PENDING_ID_MUST_BE_EMPTY, None
    if t.amount <= 0:
        return R.AMOUNT_MUST_BE_POSITIVE, None
    if t.debit_account_id == t.credit_account_id:
        return R.ACCOUNTS_MUST_BE_DIFFERENT, None
    dr = state.accounts.get(t.debit_account_id)
    if dr is None:
        return R.DEBIT_ACCOUNT_NOT_FOUND, None
    cr = state.accounts.get(t.credit_account_id)
    if cr is None:
        return R.CREDIT_ACCOUNT_NOT_FOUND, None
    if dr.ledger != cr.ledger:
        return R.ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER, None
    if t.ledger is not None and t.ledger != dr.ledger:
        return R.TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS, None
    if t.amount > MAX_AMOUNT[dr.ledger]:
        return R.AMOUNT_TOO_LARGE, None
    if dr.flags & AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS and (
        dr.debits_pending + dr.debits_posted + t.amount > dr.credits_posted
    ):
        return R.EXCEEDS_CREDITS, None
    if cr.flags & AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS and (
        cr.credits_pending + cr.credits_posted + t.amount > cr.debits_posted
    ):
        return R.EXCEEDS_DEBITS, None
    record = _record(t, t.debit_account_id, t.credit_account_id, t.amount, dr.ledger, now_us)
    state.move(record)
    state.created[t.id] = record
    if t.flags & TransferFlags.PENDING:
        state.pendings[t.id] = PendingState(record, PendingStatus.PENDING)
        state.changed_pendings.add(t.id)
    return R.OK, record


def _resolve_pending(t: Transfer, state: _State, now_us: int) -> tuple[CreateTransferResult, TransferRecord | None]:
    if not t.pending_id:
        return R.PENDING_ID_REQUIRED, None
    live = state.pendings.get(t.pending_id)
    if live is None:
        known = state.lookup(t.pending_id)
        return (R.PENDING_TRANSFER_NOT_PENDING if known else R.PENDING_TRANSFER_NOT_FOUND), None
    p = live.transfer
    if t.debit_account_id and t.debit_account_id != p.debit_account_id:
        return R.PENDING_TRANSFER_HAS_DIFFERENT_ACCOUNTS, None
    if t.credit_account_id and t.credit_account_id != p.credit_account_id:
        return R.PENDING_TRANSFER_HAS_DIFFERENT_ACCOUNTS, None
    if t.ledger is not None and t.ledger != p.ledger:
        return R.PENDING_TRANSFER_HAS_DIFFERENT_LEDGER, None
    if live.status is PendingStatus.POSTED:
        return R.PENDING_TRANSFER_ALREADY_POSTED, None
    if live.status is PendingStatus.VOIDED:
        return R.PENDING_TRANSFER_ALREADY_VOIDED, None
    expires_at = p.expires_at
    if live.status is PendingStatus.EXPIRED or (expires_at is not None and expires_at <= now_us):
        return R.PENDING_TRANSFER_EXPIRED, None
    if t.amount < 0:
        return R.AMOUNT_MUST_BE_POSITIVE, None
    if t.flags & TransferFlags.POST_PENDING:
        if t.amount > p.amount:
            return R.EXCEEDS_PENDING_TRANSFER_AMOUNT, None
        amount = t.amount or p.amount
        status = PendingStatus.POSTED
    else:
        if t.amount not in (0, p.amount):
            return R.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT, None
        amount = p.amount
        status = PendingStatus.VOIDED
    record = _record(t, p.debit_account_id, p.credit_account_id, amount, p.ledger, now_us)
    state.move(record, pending_amount=p.amount)
    state.created[t.id] = record
    state.pendings[p.id] = PendingState(p, status)
    state.changed_pendings.add(p.id)
    return R.OK, record


def _record(t: Transfer, dr: str, cr: str, amount: int, ledger: Ledger, now_us: int) -> TransferRecord:
    return TransferRecord(
        id=t.id,
        debit_account_id=dr,
        credit_account_id=cr,
        amount=amount,
        ledger=ledger,
        code=int(t.code),
        flags=t.flags,
        pending_id=t.pending_id,
        timeout_s=t.timeout_s,
        reference=t.reference,
        timestamp=now_us,
        request_debit_account_id=t.debit_account_id,
        request_credit_account_id=t.credit_account_id,
        request_amount=t.amount,
        request_ledger=t.ledger,
    )


def expiry_id(pending_id: str) -> str:
    return f"expire:{pending_id}"


def expire_pendings(due: Iterable[PendingState], *, accounts: Mapping[str, Account], now_us: int) -> BatchOutcome:
    """Release every pending transfer in ``due`` whose timeout has passed.

    Each release is recorded as a transfer flagged ``EXPIRE_PENDING`` so the
    hash chain, histories and ``ledger verify`` see it like any other entry.
    """
    state = _State(accounts, {}, {})
    records: list[TransferRecord] = []
    for listed in due:
        p = listed.transfer
        live = state.pendings.get(p.id, listed)  # a pending listed twice is released once
        if live.status is not PendingStatus.PENDING or p.expires_at is None or p.expires_at > now_us:
            continue
        record = TransferRecord(
            id=expiry_id(p.id),
            debit_account_id=p.debit_account_id,
            credit_account_id=p.credit_account_id,
            amount=p.amount,
            ledger=p.ledger,
            code=int(TransferCode.EXPIRY),
            flags=TransferFlags.EXPIRE_PENDING,
            pending_id=p.id,
            timeout_s=0,
            reference=p.reference,
            timestamp=now_us,
            request_amount=p.amount,
        )
        state.move(record, pending_amount=p.amount)
        state.pendings[p.id] = PendingState(p, PendingStatus.EXPIRED)
        state.changed_pendings.add(p.id)
        records.append(record)
    return BatchOutcome(
        results=[R.OK] * len(records),
        records=records,
        accounts={a: state.accounts[a] for a in state.changed_accounts},
        pending_status=dict.fromkeys(state.changed_pendings, PendingStatus.EXPIRED),
    )
