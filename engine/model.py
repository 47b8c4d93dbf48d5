"""Domain records other than the ledger's: users, clusters, outbox messages."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Language(enum.StrEnum):
    ENGLISH = "en"
    NYANJA = "ny"
    BEMBA = "bem"


# pin_locked_until for a PIN locked until an operator resets it (far beyond any real date,
# well inside a 64-bit column).
LOCKED_UNTIL_RESET = 2**62


@dataclass(frozen=True, slots=True)
class User:
    id: int
    phone: str  # E.164, e.g. +260977123456
    name: str
    language: Language
    pin_hash: str = field(repr=False)
    pin_failures: int = 0  # wrong PINs since the last right one or the last lock
    pin_locked_until: int = 0  # microseconds since the epoch; 0 = not locked; LOCKED_UNTIL_RESET
    created_at: int = 0
    pin_failures_total: int = 0  # every wrong PIN ever (for operators)
    pin_lock_stage: int = 0  # locks since the last right PIN or reset: each lasts longer
    pin_must_change: bool = False  # the PIN is a one-time PIN from an operator reset
    hold_until: int = 0  # nothing leaves the wallet before this (after an operator reset)

    @property
    def short_name(self) -> str:
        """First name and last initial (``Chipo P.``): what another user may see."""
        parts = self.name.split()
        if len(parts) < 2:
            return parts[0] if parts else ""
        return f"{parts[0]} {parts[-1][0]}."

    def locked_at(self, now_us: int) -> bool:
        return self.pin_locked_until > now_us

    @property
    def locked_until_reset(self) -> bool:
        return self.pin_locked_until >= LOCKED_UNTIL_RESET

    @property
    def zmw_account_id(self) -> str:
        return user_account_id(self.id, "ZMW")

    @property
    def kwh_account_id(self) -> str:
        return user_account_id(self.id, "KWH")


def user_account_id(user_id: int, ledger: str) -> str:
    return f"user:{user_id}:{ledger}"


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


class OfferStatus(enum.StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    DECLINED = "declined"


@dataclass(frozen=True, slots=True)
class Offer:
    """Energy offered to one buyer: the seller's kWh are reserved until the buyer decides."""

    id: str  # the operation id; the reservation is the pending transfer "<id>:energy"
    reference: str
    seller_id: int
    buyer_id: int
    wh: int
    price_ngwee_per_kwh: int
    cost_ngwee: int
    fee_ngwee: int
    status: OfferStatus
    created_at: int
    expires_at: int

    @property
    def reservation_id(self) -> str:
        return f"{self.id}:energy"

    def is_open(self, now_us: int) -> bool:
        return self.status is OfferStatus.OPEN and now_us < self.expires_at


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    DEAD = "dead"
    # Over the recipient's daily SMS cap: kept for audit, never sent (their daily summary stands for it).
    FOLDED = "folded"


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """An SMS to send, written in the same transaction as what it reports.

    The text is rendered at delivery from ``template`` in the recipient's
    language, so the engine never holds message catalogs.
    """

    dedupe_key: str
    recipient: str
    language: Language
    template: str
    params: dict[str, str | int]
    created_at: int = 0  # microseconds; 0 lets the store stamp its own clock


@dataclass(frozen=True, slots=True)
class UssdSessionEnd:
    """The gateway's end-of-session notification, as kept for analytics (never the inputs)."""

    session_id: str
    status: str  # Success / Incomplete / Failed
    last_screen: str = ""
    hops: int = 0
    duration_ms: int = 0
    error: str = ""


@dataclass(frozen=True, slots=True)
class ScreenFunnel:
    """How sessions ended on one screen."""

    screen: str
    sessions: int
    completed: int
    dropped: int


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    message: OutboxMessage
    status: OutboxStatus
    attempts: int = 0
    next_attempt_at: int = 0
    last_error: str = ""
    provider_ref: str = ""
