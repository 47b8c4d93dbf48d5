"""A process that applies transfers as fast as it can and acknowledges each on stdout.

Run by test_crash.py, which kills it with SIGKILL at an arbitrary moment. A
line ``ack ID`` is printed only after the store has returned OK for ID, i.e.
after the commit: everything acknowledged must survive the kill.
"""

from __future__ import annotations

import asyncio
import sys

from engine.ledger.model import (
    Account,
    AccountFlags,
    AccountKind,
    CreateTransferResult,
    Ledger,
    Transfer,
    TransferFlags,
)
from storage import open_store

R = CreateTransferResult
WALLETS = [f"w{i}" for i in range(8)]


async def main(url: str, prefix: str) -> None:
    store = await open_store(url)
    await store.ledger.create_accounts(
        [
            Account("world", Ledger.ZMW, AccountKind.ISSUANCE),
            *[
                Account(w, Ledger.ZMW, AccountKind.USER_WALLET, flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
                for w in WALLETS
            ],
        ]
    )
    i = 0
    while True:
        i += 1
        a, b = WALLETS[i % 8], WALLETS[(i * 3 + 1) % 8]
        tid = f"{prefix}-{i}"
        kind = i % 3
        if kind == 0:
            batch = [Transfer(tid, "world", a, 50)]
        elif kind == 1:  # a linked pair: both or neither
            batch = [
                Transfer(f"{tid}a", "world", a, 20, flags=TransferFlags.LINKED),
                Transfer(tid, a, b, 10),
            ]
        else:  # reserve and post in one go
            batch = [
                Transfer(f"{tid}p", "world", b, 30, flags=TransferFlags.PENDING | TransferFlags.LINKED, timeout_s=60),
                Transfer(tid, flags=TransferFlags.POST_PENDING, pending_id=f"{tid}p"),
            ]
        results = await store.ledger.create_transfers(batch)
        if all(r is R.OK for r in results):
            sys.stdout.write("".join(f"ack {t.id}\n" for t in batch))
            sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
