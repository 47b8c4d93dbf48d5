"""Airtel Money Africa API bodies, statuses and codes.

Transaction statuses: TS (successful), TF (failed), TIP (in progress), TA
(ambiguous). Every answer carries ``status`` with ``code`` (the HTTP code as
text), ``success``, ``result_code`` (ESB... / ROUTER...) and, for payment
outcomes, ``response_code`` (DP008... for collections, DP009... for
disbursements). The table below maps the simulator's failure reasons (MTN's
names) onto Airtel's codes; Airtel's vocabulary is coarser, so some reasons
share a code. The adapter reads them back with the inverse table.
"""

from __future__ import annotations

from simulator.momo.model import COLLECTION, Kind, Txn

SUCCESS_CODE = {"collection": "DP00800001001", "disbursement": "DP00900001001"}
IN_PROCESS_CODE = {"collection": "DP00800001006", "disbursement": "DP00900001006"}
DUPLICATE_DISBURSEMENT = "DP00900001011"  # "Transaction with similar information already exists"
DUPLICATE_COLLECTION = "ESB000041"  # "External Transaction ID already exists."
NOT_FOUND_CODE = {"collection": "DP00800001025", "disbursement": "DP00900001015"}
RESULT_SUCCESS = "ESB000010"
RESULT_FAILED = "ESB000011"
RESULT_SOMETHING_WRONG = "ESB000001"
RESULT_FIELD_VALIDATION = "ESB000008"
RESULT_BAD_MSISDN = "ESB000033"
RESULT_NOT_FOUND = "ESB000045"

FAILURE_CODES: dict[Kind, dict[str, tuple[str, str]]] = {
    "collection": {
        "APPROVAL_REJECTED": ("DP00800001008", "The transaction was refused."),
        "PAYER_LIMIT_REACHED": ("DP00800001003", "The User has exceeded their wallet allowed transaction limit."),
        "INVALID_AMOUNT": ("DP00800001004", "The amount is less than the minimum amount allowed."),
        "NOT_ENOUGH_FUNDS": ("DP00800001007", "User wallet does not have enough money to cover the payable amount."),
        "NOT_ALLOWED": ("DP00800001009", "This is a generic refusal that has several possible causes."),
        "PAYER_NOT_FOUND": ("DP00800001010", "The subscriber is barred or not registered on Airtel Money."),
        "EXPIRED": ("DP00800001029", "Transaction has been expired."),
    },
    "disbursement": {
        "PAYER_LIMIT_REACHED": ("DP00900001003", "Maximum transaction limit reached for the day."),
        "PAYEE_LIMIT_REACHED": ("DP00900001003", "Maximum transaction limit reached for the day."),
        "INVALID_AMOUNT": ("DP00900001004", "Amount entered is out of range with respect to defined limits."),
        "COULD_NOT_PERFORM_TRANSACTION": ("DP00900001005", "Transaction failed."),
        "NOT_ENOUGH_FUNDS": ("DP00900001007", "Not enough funds in account to complete the transaction."),
        "PAYER_NOT_FOUND": ("DP00900001009", "Initiatee of the transaction is invalid."),
        "NOT_ALLOWED": ("DP00900001010", "Payer is not an allowed user."),
        "PAYEE_NOT_FOUND": ("DP00900001012", "Mobile number entered is incorrect."),
        "APPROVAL_REJECTED": ("DP00900001013", "The transaction was refused."),
        "EXPIRED": ("DP00900001014", "Transaction Timed Out."),
    },
}


def failure_code(kind: Kind, reason: str) -> tuple[str, str, str]:
    """(response_code, result_code, message) for a failed transaction; response_code may be empty."""
    known = FAILURE_CODES[kind].get(reason)
    if known is not None:
        return known[0], RESULT_FAILED, known[1]
    if reason == "INTERNAL_PROCESSING_ERROR":
        return "", RESULT_SOMETHING_WRONG, "Something went wrong."
    return "", RESULT_FAILED, "Failed."


def status_block(http: int, message: str, *, success: bool, result: str, response: str = "") -> dict[str, object]:
    block: dict[str, object] = {"code": str(http), "message": message, "result_code": result, "success": success}
    if response:
        block["response_code"] = response
    return block


def airtel_status(txn: Txn) -> str:
    return {"PENDING": "TIP", "SUCCESSFUL": "TS", "FAILED": "TF"}[txn.status]


def outcome_message(txn: Txn, status: str) -> str:
    amount = f"{txn.currency} {txn.amount_ngwee // 100:,}.{txn.amount_ngwee % 100:02d}"
    if status == "TS" and txn.kind == COLLECTION:
        return f"Paid {amount} to {txn.msisdn[4:]}. Trans ID {txn.financial_id}."
    if status == "TS":
        return f"You have sent {amount} to {txn.msisdn[4:]}. TID: {txn.financial_id}."
    if status == "TIP":
        return "Transaction in pending state. Please check after sometime."
    return failure_code(txn.kind, txn.reason)[2]


def enquiry_body(txn: Txn) -> dict[str, object]:
    """``GET /standard/v1/payments/{id}`` and ``GET /standard/v1/disbursements/{id}``."""
    status = airtel_status(txn)
    transaction: dict[str, object] = {"id": txn.reference_id, "message": outcome_message(txn, status), "status": status}
    if status == "TS":
        transaction["airtel_money_id"] = txn.financial_id
    if status == "TF":
        response, result, message = failure_code(txn.kind, txn.reason)
        block = status_block(200, message, success=False, result=result, response=response)
    elif status == "TS":
        block = status_block(200, "SUCCESS", success=True, result=RESULT_SUCCESS, response=SUCCESS_CODE[txn.kind])
    else:
        block = status_block(200, "SUCCESS", success=True, result=RESULT_SUCCESS, response=IN_PROCESS_CODE[txn.kind])
    return {"data": {"transaction": transaction}, "status": block}


def callback_body(txn: Txn, *, status: str | None = None) -> dict[str, object]:
    """What Airtel POSTs to the callback URL configured on its portal."""
    shown = status or airtel_status(txn)
    return {
        "transaction": {
            "id": txn.reference_id,
            "message": outcome_message(txn, shown),
            "status_code": shown,
            "airtel_money_id": txn.financial_id,
        }
    }


def error(http: int, message: str, *, result: str, response: str = "") -> dict[str, object]:
    return {"status": status_block(http, message, success=False, result=result, response=response)}
