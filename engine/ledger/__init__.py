"""TigerBeetle-style double-entry ledger: model, rules, hash chain and verification."""

from engine.ledger.model import (
    Account,
    AccountFlags,
    AccountKind,
    CreateAccountResult,
    CreateTransferResult,
    Ledger,
    PendingState,
    PendingStatus,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferRecord,
)

__all__ = [
    "Account",
    "AccountFlags",
    "AccountKind",
    "CreateAccountResult",
    "CreateTransferResult",
    "Ledger",
    "PendingState",
    "PendingStatus",
    "Transfer",
    "TransferCode",
    "TransferFlags",
    "TransferRecord",
]
