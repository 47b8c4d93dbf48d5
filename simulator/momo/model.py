"""One transaction as a provider holds it, and the words both providers share here."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Literal

ProviderName = Literal["mtn", "airtel"]
Kind = Literal["collection", "disbursement"]
Status = Literal["PENDING", "SUCCESSFUL", "FAILED"]

MTN: ProviderName = "mtn"
AIRTEL: ProviderName = "airtel"
PROVIDERS: tuple[ProviderName, ...] = (MTN, AIRTEL)
COLLECTION: Kind = "collection"
DISBURSEMENT: Kind = "disbursement"
KINDS: tuple[Kind, ...] = (COLLECTION, DISBURSEMENT)

# Mobile prefixes after +260: 96/76 MTN, 97/77 Airtel (95/75 Zamtel, 98/78 the fourth network).
NETWORK_PREFIXES: dict[ProviderName, tuple[str, ...]] = {MTN: ("96", "76"), AIRTEL: ("97", "77")}
ZAMBIAN_MOBILE = re.compile(r"^\+260(?:[59][5-8]|7[5-9])\d{7}$")
REASON = re.compile(r"^[A-Z][A-Z_]{1,63}$")

# MTN's published ErrorReason codes (the Collection API's components), and the
# extra names the engine uses. Rules may name any upper-case code: unknown ones
# test how an adapter copes.
MTN_REASONS = (
    "PAYEE_NOT_FOUND",
    "PAYER_NOT_FOUND",
    "NOT_ALLOWED",
    "NOT_ALLOWED_TARGET_ENVIRONMENT",
    "INVALID_CALLBACK_URL_HOST",
    "INVALID_CURRENCY",
    "SERVICE_UNAVAILABLE",
    "INTERNAL_PROCESSING_ERROR",
    "NOT_ENOUGH_FUNDS",
    "PAYER_LIMIT_REACHED",
    "PAYEE_NOT_ALLOWED_TO_RECEIVE",
    "PAYMENT_NOT_APPROVED",
    "RESOURCE_NOT_FOUND",
    "APPROVAL_REJECTED",
    "EXPIRED",
    "TRANSACTION_CANCELED",
    "RESOURCE_ALREADY_EXIST",
)

REASON_TEXT = {
    "NOT_ENOUGH_FUNDS": "The payer does not have enough funds.",
    "PAYER_LIMIT_REACHED": "The payer's limit has been breached.",
    "PAYEE_LIMIT_REACHED": "The payee's limit has been breached.",
    "APPROVAL_REJECTED": "The payer rejected the request.",
    "EXPIRED": "The request expired before the payer approved it.",
    "PAYER_NOT_FOUND": "Payer not found: the number has no wallet.",
    "PAYEE_NOT_FOUND": "Payee not found: the number has no wallet.",
    "NOT_ALLOWED": "The transaction is not allowed.",
    "INTERNAL_PROCESSING_ERROR": "An internal error occurred while processing.",
    "SERVICE_UNAVAILABLE": "Service temporarily unavailable, try again later.",
}


def reason_text(reason: str) -> str:
    return REASON_TEXT.get(reason, reason.replace("_", " ").capitalize() + ".")


@dataclass(slots=True)
class Plan:
    """What will happen to a transaction, decided once when it is submitted."""

    outcome: Literal["succeed", "fail", "expire"] | None = None  # None: the natural course
    reason: str = ""
    delay_ms: int | None = None
    callback: Literal["normal", "lose", "twice", "late"] = "normal"


@dataclass(slots=True)
class CallbackRecord:
    at: float
    status: str  # the transaction status the body carried
    delivery: Literal["sent", "failed", "lost"]
    http_status: int | None = None
    late: bool = False


@dataclass(slots=True)
class Txn:
    provider: ProviderName
    kind: Kind
    reference_id: str  # MTN's X-Reference-Id; Airtel's transaction.id (both chosen by the client)
    external_id: str  # MTN's externalId; Airtel's reference
    msisdn: str  # E.164
    amount_ngwee: int
    amount_text: str  # as the client sent it (MTN echoes it)
    currency: str
    payer_message: str = ""
    payee_note: str = ""
    callback_url: str | None = None
    callback_method: str = "PUT"
    plan: Plan = field(default_factory=Plan)
    status: Status = "PENDING"
    reason: str = ""
    financial_id: str = ""  # MTN's financialTransactionId; Airtel's airtel_money_id
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    balance_after_ngwee: int | None = None
    callbacks: list[CallbackRecord] = field(default_factory=list)
    callbacks_pending: int = 0

    @property
    def final(self) -> bool:
        return self.status != "PENDING"

    def to_json(self) -> dict[str, object]:
        """The provider's view, for ``GET /_sim/transactions``."""
        return {
            "provider": self.provider,
            "kind": self.kind,
            "reference_id": self.reference_id,
            "external_id": self.external_id,
            "msisdn": self.msisdn,
            "amount_ngwee": self.amount_ngwee,
            "currency": self.currency,
            "status": self.status,
            "reason": self.reason,
            "financial_transaction_id": self.financial_id,
            "created_at": _iso(self.created_at),
            "finished_at": _iso(self.finished_at) if self.finished_at is not None else None,
            "callbacks": [
                {
                    "status": c.status,
                    "delivery": c.delivery,
                    "http_status": c.http_status,
                    "late": c.late,
                }
                for c in self.callbacks
            ],
            "callbacks_pending": self.callbacks_pending,
        }


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at * 1000) % 1000:03d}Z"


def on_network(provider: ProviderName, msisdn: str) -> bool:
    return msisdn[4:6] in NETWORK_PREFIXES[provider]
