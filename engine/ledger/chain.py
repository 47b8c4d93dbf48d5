"""The SHA-256 hash chain over every applied transfer.

``h_n = SHA-256(h_{n-1} || canonical bytes of entry n)`` with ``h_0`` all
zeros. The canonical form is a compact JSON array of the entry's fields in a
fixed order: unambiguous, stable across Python versions and easy to reproduce
from any language.
"""

from __future__ import annotations

import hashlib
import json

from engine.ledger.model import TransferRecord

GENESIS_HASH = "0" * 64


def canonical_bytes(record: TransferRecord) -> bytes:
    fields = [
        record.seq,
        record.id,
        record.debit_account_id,
        record.credit_account_id,
        record.amount,
        str(record.ledger),
        record.code,
        int(record.flags),
        record.pending_id,
        record.timeout_s,
        record.reference,
        record.timestamp,
    ]
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def entry_hash(previous_hash: str, record: TransferRecord) -> str:
    digest = hashlib.sha256(bytes.fromhex(previous_hash))
    digest.update(canonical_bytes(record))
    return digest.hexdigest()
