"""What the wallet's views read: committed data only, never inside a transaction."""

from __future__ import annotations

from typing import Protocol

from engine.energy.ports import ClusterReader
from engine.identity.ports import UserReader
from engine.ledger.ports import LedgerReader


class WalletReads(Protocol):
    @property
    def ledger(self) -> LedgerReader: ...

    @property
    def users(self) -> UserReader: ...

    @property
    def clusters(self) -> ClusterReader: ...
