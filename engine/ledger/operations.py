"""Applying one user-facing operation as one linked, idempotent set of transfers."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import replace

from engine.kernel.errors import EnerlectraError, IdempotencyConflict, LedgerRejected
from engine.ledger.model import CreateTransferResult, Transfer, TransferFlags
from engine.ledger.ports import LedgerWriter

R = CreateTransferResult
Refusal = Callable[[int, CreateTransferResult], EnerlectraError | None]


def new_operation_id() -> str:
    return "op-" + secrets.token_hex(12)


def linked(transfers: Sequence[Transfer]) -> list[Transfer]:
    """Chain the transfers so they succeed or fail as one."""
    last = len(transfers) - 1
    return [replace(t, flags=t.flags | TransferFlags.LINKED) if i < last else t for i, t in enumerate(transfers)]


async def apply_operation(ledger: LedgerWriter, transfers: Sequence[Transfer], refusal: Refusal) -> bool:
    """Apply ``transfers`` all-or-nothing; return True if this was a replay of an applied operation.

    ``refusal(index, result)`` turns the failing transfer's result into the
    domain error to raise (None falls back to :class:`LedgerRejected`). Raising
    inside a unit of work rolls back everything else it wrote.
    """
    results = await ledger.create_transfers(linked(transfers))
    if all(r is R.EXISTS for r in results):
        return True
    if any(r is R.EXISTS_WITH_DIFFERENT_FIELDS for r in results) or (
        any(r is R.EXISTS for r in results) and any(r is R.OK for r in results)
    ):
        # Part of this operation exists in another shape: never top it up.
        raise IdempotencyConflict("operation id reused with different details")
    for index, result in enumerate(results):
        if not result.applied and result is not R.LINKED_EVENT_FAILED:
            raise refusal(index, result) or LedgerRejected(str(result), result=str(result))
    return False
