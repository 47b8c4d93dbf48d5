"""Community solar clusters: where energy is bought from."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from engine.ledger.accounts import CLUSTER_OWNER, WALLET_FLAGS
from engine.ledger.model import Account, AccountKind, Ledger


class ClusterKind(enum.StrEnum):
    MICRO = "micro"  # 10-25 households sharing one installation
    NEIGHBOURHOOD = "neighbourhood"  # 50-100 prosumers
    INDUSTRIAL = "industrial"  # small solar farms, mines, co-ops
    SUPPLY = "supply"  # equipment suppliers selling surplus


@dataclass(frozen=True, slots=True)
class Cluster:
    id: str  # a short slug, e.g. "lsk-kabulonga"
    name: str
    kind: ClusterKind
    region: str
    capacity_wh: int  # nameplate energy a full generation cycle adds to the pool
    price_ngwee_per_kwh: int
    created_at: int = 0

    @property
    def pool_account_id(self) -> str:
        return f"cluster:{self.id}:pool"

    @property
    def treasury_account_id(self) -> str:
        return f"cluster:{self.id}:treasury"


def cluster_accounts(cluster: Cluster) -> list[Account]:
    owner = f"{CLUSTER_OWNER}{cluster.id}"
    return [
        # The pool holds the energy the cluster can still sell: it cannot go below zero,
        # which is what refuses a purchase larger than the available capacity.
        Account(cluster.pool_account_id, Ledger.KWH, AccountKind.CLUSTER_POOL, owner=owner, flags=WALLET_FLAGS),
        Account(cluster.treasury_account_id, Ledger.ZMW, AccountKind.CLUSTER_TREASURY, owner=owner, flags=WALLET_FLAGS),
    ]
