"""Reading a provider's statement (CSV, as its merchant portal exports it) into provider-neutral lines.

MTN: ``External Transaction Id`` is our payment id, ``Status`` Successful or
Failed, ``Amount`` signed from the merchant wallet's side (collections +,
disbursements -), the customer in ``From`` (a collection) or ``To`` (a
disbursement) as an FRI (``FRI:260961234567/MSISDN``). Airtel: ``Reference``
is our id, ``Transaction Status`` TS (success) or TF, ``MSISDN`` national,
``Amount`` signed the same way. Amounts are read exactly (no floats); a row
that cannot be read is refused with its line number, never skipped.
"""

from __future__ import annotations

import csv
import io
import re

from engine.kernel.errors import InvalidInput
from engine.payments.model import Direction, Provider
from engine.payments.reconcile import StatementLine

_AMOUNT = re.compile(r"^([+-]?)(\d{1,12})(?:\.(\d{1,2}))?$")
_FRI = re.compile(r"^FRI:(\d+)/MSISDN$", re.IGNORECASE)
# Statements run to thousands of lines a day; a file far beyond that is not a statement.
MAX_LINES = 1_000_000


class BadStatement(InvalidInput):
    code = "bad_statement"


def _ngwee(text: str, line: int) -> int:
    match = _AMOUNT.match(text.strip().replace(",", ""))
    if match is None:
        raise BadStatement(f"line {line}: amount {text!r} is not a number with at most two decimals", line=line)
    sign = -1 if match.group(1) == "-" else 1
    return sign * (int(match.group(2)) * 100 + int((match.group(3) or "").ljust(2, "0")))


def _e164(text: str) -> str:
    digits = text.strip().lstrip("+")
    fri = _FRI.match(text.strip())
    if fri is not None:
        digits = fri.group(1)
    if len(digits) == 9:  # Airtel writes national numbers
        digits = "260" + digits
    return "+" + digits


def _line(provider: Provider, row: dict[str, str], number: int) -> StatementLine:
    try:
        if provider is Provider.MTN:
            amount = _ngwee(row["Amount"], number)
            direction = Direction.DEPOSIT if amount >= 0 else Direction.WITHDRAWAL
            customer = row["From"] if direction is Direction.DEPOSIT else row["To"]
            return StatementLine(
                external_id=row["External Transaction Id"].strip(),
                provider_txn_id=row["Id"].strip(),
                msisdn=_e164(customer),
                amount_ngwee=abs(amount),
                direction=direction,
                successful=row["Status"].strip().lower() == "successful",
            )
        amount = _ngwee(row["Amount"], number)
        return StatementLine(
            external_id=row["Reference"].strip(),
            provider_txn_id=row["Airtel Money ID"].strip(),
            msisdn=_e164(row["MSISDN"]),
            amount_ngwee=abs(amount),
            direction=Direction.DEPOSIT if amount >= 0 else Direction.WITHDRAWAL,
            successful=row["Transaction Status"].strip().upper() == "TS",
        )
    except KeyError as missing:
        raise BadStatement(
            f"line {number}: no column {missing} (is this a {provider} statement?)", line=number
        ) from None


def read_statement(provider: Provider, text: str) -> list[StatementLine]:
    """Every line of a statement; raises :class:`BadStatement` naming the first line it cannot read."""
    rows = csv.DictReader(io.StringIO(text))
    lines = []
    for number, row in enumerate(rows, start=2):  # line 1 is the header
        if number > MAX_LINES:
            raise BadStatement(f"more than {MAX_LINES} lines: split the statement by day", line=number)
        lines.append(_line(provider, row, number))
    return lines
