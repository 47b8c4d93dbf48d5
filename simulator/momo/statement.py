"""A provider statement as CSV: what an operator downloads from the merchant portal to reconcile.

Finished transactions only (successful and failed), oldest first. MTN's
columns follow its partner portal's transaction export; the repeated
``Currency`` header after each money column is MTN's own. Parties are
written as MTN's FRI URIs (``FRI:260961234567/MSISDN``); ``Amount`` is
signed from the merchant wallet's side (collections +, disbursements -),
``Balance`` is the wallet after the line.

MTN: Id, External Transaction Id, Date, Status, Type, Provider Category,
Information, Note Message, From, From Name, From Handler Name, To, To Name,
To Handler Name, Initiated By, On Behalf Of, Amount, Currency, Fee,
Currency, Balance, Currency.

Airtel (its own export, simplified): Transaction ID, Airtel Money ID,
Reference, Transaction Date, Transaction Status, Service Type, MSISDN,
Amount, Currency, Fee, Balance, Reason.

Reconcile on External Transaction Id (MTN's externalId) or Reference
(Airtel's), Amount and the customer's number.
"""

from __future__ import annotations

import csv
import io
import time

from simulator.momo.config import MomoSimConfig
from simulator.momo.model import COLLECTION, MTN, ProviderName, Txn
from simulator.momo.money import format_signed

MTN_COLUMNS = (
    "Id", "External Transaction Id", "Date", "Status", "Type", "Provider Category", "Information",
    "Note Message", "From", "From Name", "From Handler Name", "To", "To Name", "To Handler Name",
    "Initiated By", "On Behalf Of", "Amount", "Currency", "Fee", "Currency", "Balance", "Currency",
)  # fmt: skip
AIRTEL_COLUMNS = (
    "Transaction ID", "Airtel Money ID", "Reference", "Transaction Date", "Transaction Status",
    "Service Type", "MSISDN", "Amount", "Currency", "Fee", "Balance", "Reason",
)  # fmt: skip


def _date(at: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at or 0))


def _mtn_row(txn: Txn, config: MomoSimConfig) -> list[str]:
    customer = f"FRI:{txn.msisdn.removeprefix('+')}/MSISDN"
    merchant = f"FRI:{config.merchant_name.lower()}.sp/USER"
    collection = txn.kind == COLLECTION
    sign = 1 if collection else -1
    currency = txn.currency
    return [
        txn.financial_id or txn.reference_id,
        txn.external_id,
        _date(txn.finished_at),
        "Successful" if txn.status == "SUCCESSFUL" else "Failed",
        "Debit" if collection else "Transfer",
        "",
        txn.reason,
        txn.payer_message if collection else txn.payee_note,
        customer if collection else merchant,
        "" if collection else config.merchant_name,
        "",
        merchant if collection else customer,
        config.merchant_name if collection else "",
        "",
        config.mtn_api_user,
        "",
        format_signed(sign * txn.amount_ngwee),
        currency,
        "0.00",
        currency,
        format_signed(txn.balance_after_ngwee or 0),
        currency,
    ]


def _airtel_row(txn: Txn) -> list[str]:
    sign = 1 if txn.kind == COLLECTION else -1
    return [
        txn.reference_id,
        txn.financial_id,
        txn.external_id,
        _date(txn.finished_at),
        "TS" if txn.status == "SUCCESSFUL" else "TF",
        "Merchant Payment" if txn.kind == COLLECTION else "B2C",
        txn.msisdn.removeprefix("+260"),
        format_signed(sign * txn.amount_ngwee),
        txn.currency,
        "0.00",
        format_signed(txn.balance_after_ngwee or 0),
        txn.reason,
    ]


def statement_csv(provider: ProviderName, txns: list[Txn], config: MomoSimConfig) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    finished = sorted((t for t in txns if t.provider == provider and t.final), key=lambda t: t.finished_at or 0)
    if provider == MTN:
        writer.writerow(MTN_COLUMNS)
        writer.writerows(_mtn_row(t, config) for t in finished)
    else:
        writer.writerow(AIRTEL_COLUMNS)
        writer.writerows(_airtel_row(t) for t in finished)
    return out.getvalue()
