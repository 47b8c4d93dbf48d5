"""MTN MoMo Open API bodies: what ``GET .../requesttopay/{id}`` and ``.../transfer/{id}`` answer.

The callback to ``X-Callback-Url`` carries the same body when the
transaction finishes (MoMo's own statuses: PENDING, SUCCESSFUL, FAILED).
"""

from __future__ import annotations

from simulator.momo.model import COLLECTION, Txn, reason_text


def party_id(msisdn: str) -> str:
    """``+260961234567`` -> ``260961234567`` (MSISDN parties carry no plus sign)."""
    return msisdn.removeprefix("+")


def status_body(txn: Txn, *, reason_as_object: bool, status: str | None = None) -> dict[str, object]:
    """The RequestToPayResult / TransferResult for ``txn`` (``status`` overrides it, for a late callback)."""
    shown = status or txn.status
    party = {"partyIdType": "MSISDN", "partyId": party_id(txn.msisdn)}
    body: dict[str, object] = {
        "amount": txn.amount_text,
        "currency": txn.currency,
        "externalId": txn.external_id,
        "payer" if txn.kind == COLLECTION else "payee": party,
        "payerMessage": txn.payer_message,
        "payeeNote": txn.payee_note,
        "status": shown,
    }
    if shown == "SUCCESSFUL":
        body["financialTransactionId"] = txn.financial_id or "0"
    if shown == "FAILED" and txn.reason:
        body["reason"] = {"code": txn.reason, "message": reason_text(txn.reason)} if reason_as_object else txn.reason
    return body


def error_body(code: str, message: str) -> dict[str, str]:
    """MoMo's ErrorReason: ``{"code": ..., "message": ...}``."""
    return {"code": code, "message": message}


def apim_error(message: str) -> dict[str, object]:
    """What the API gateway in front of MoMo answers for a missing or wrong key or token."""
    return {"statusCode": 401, "message": message}
