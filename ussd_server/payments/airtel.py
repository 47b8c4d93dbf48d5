"""Airtel Money Africa API: collections (USSD push) and disbursements.

- ``POST /auth/oauth2/token`` (JSON client credentials) -> ``{access_token, expires_in, token_type}``.
- ``POST /merchant/v1/payments/`` with ``X-Country``/``X-Currency``: our attempt
  id is ``transaction.id``, our payment id the ``reference``; the subscriber's
  msisdn goes without the country code.
- ``POST /standard/v1/disbursements/``: ``payee``, ``reference``, the encrypted
  ``pin``, ``transaction`` ``{amount, id, type: B2C}``.
- ``GET /standard/v1/payments/{id}``, ``GET /standard/v1/disbursements/{id}``:
  ``data.transaction.status`` TS / TF / TIP / TA (TE: expired).
- The callback (configured on Airtel's portal) carries ``transaction.id``:
  our attempt id, not the payment id.

Airtel answers business errors in ``status`` (``success``, ``result_code``
ESB.../ROUTER..., ``response_code`` DP008... for collections, DP009... for
disbursements), often with HTTP 200; the codes decide, not only the HTTP status.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from decimal import Decimal

import aiohttp

from engine.payments.model import (
    Direction,
    FailureReason,
    PaymentOrder,
    Provider,
    ProviderState,
    ProviderStatus,
    SubmitOutcome,
    SubmitResult,
)
from ussd_server.payments.http import (
    Reply,
    TokenCache,
    call,
    json_bytes,
    kwacha_text,
    lifetime,
    national_number,
    parse_kwacha,
)
from ussd_server.payments.http import text_field as text

log = logging.getLogger("enerlectra.payments.airtel")

R = FailureReason
# Airtel's codes -> our reasons (its vocabulary is coarser than MTN's).
COLLECTION_REASONS: dict[str, FailureReason] = {
    "DP00800001002": R.APPROVAL_REJECTED,  # incorrect PIN
    "DP00800001003": R.PAYER_LIMIT_REACHED,
    "DP00800001004": R.INVALID_AMOUNT,
    "DP00800001005": R.EXPIRED,  # the user did not enter the PIN
    "DP00800001007": R.NOT_ENOUGH_FUNDS,
    "DP00800001008": R.APPROVAL_REJECTED,  # refused
    "DP00800001009": R.NOT_ALLOWED,  # do not honour: a generic refusal
    "DP00800001010": R.PAYER_NOT_FOUND,  # barred or not registered on Airtel Money
    "DP00800001024": R.EXPIRED,  # timed out
    "DP00800001029": R.EXPIRED,
    "ESB000033": R.PAYER_NOT_FOUND,  # invalid MSISDN length
    "ESB000036": R.PAYER_NOT_FOUND,
}
DISBURSEMENT_REASONS: dict[str, FailureReason] = {
    "DP00900001003": R.PAYEE_LIMIT_REACHED,  # maximum transaction limit reached for the day
    "DP00900001004": R.INVALID_AMOUNT,
    "DP00900001005": R.COULD_NOT_PERFORM_TRANSACTION,
    "DP00900001007": R.NOT_ENOUGH_FUNDS,
    "DP00900001009": R.PAYER_NOT_FOUND,  # initiatee of the transaction is invalid
    "DP00900001010": R.NOT_ALLOWED,  # payer is not an allowed user
    "DP00900001012": R.PAYEE_NOT_FOUND,  # mobile number entered is incorrect
    "DP00900001013": R.NOT_ALLOWED,  # refused (also: a wrong encrypted PIN)
    "DP00900001014": R.EXPIRED,  # timed out (on a submit: ambiguous, see AMBIGUOUS)
    "ESB000033": R.PAYEE_NOT_FOUND,
    "ESB000036": R.PAYEE_NOT_FOUND,
}
COMMON_REASONS: dict[str, FailureReason] = {
    "ESB000001": R.INTERNAL_PROCESSING_ERROR,  # something went wrong
    "ESB000011": R.COULD_NOT_PERFORM_TRANSACTION,  # failed
    "ESB000039": R.NOT_ALLOWED,  # vendor not configured for the country
    "ROUTER115": R.NOT_ALLOWED,  # incorrect PIN
    "ROUTER116": R.NOT_ALLOWED,  # incorrect encrypted PIN
}
DUPLICATE = {"ESB000041", "DP00900001011", "DP00900001017"}
NOT_FOUND = {"ESB000045", "DP00800001025", "DP00900001015"}
# Not an answer: the transaction may or may not exist.
AMBIGUOUS = {"ESB000001", "ESB000004", "ESB000014", "ROUTER117", "DP00800001000", "DP00900001000", "DP00900001014"}
_STATES = {"TS": ProviderState.SUCCESSFUL, "TF": ProviderState.FAILED, "TE": ProviderState.EXPIRED}
_PENDING = {"TIP", "TA", "TU", "PENDING", "IN PROGRESS"}


@dataclass(frozen=True, slots=True)
class AirtelConfig:
    base_url: str  # https://openapi.airtel.co.zm, or the simulator
    client_id: str
    client_secret: str = field(repr=False)
    disbursement_pin: str = field(repr=False, default="")  # the PIN, RSA-encrypted as Airtel's portal explains
    country: str = "ZM"
    currency: str = "ZMW"
    # Informational: Airtel's callback URL is set on its portal, never sent per request.
    callback_url: str | None = None
    timeout_s: float = 10.0
    token_margin_s: float = 30.0


class AirtelMoney:
    """``engine.payments.ports.PaymentProvider`` for Airtel Money. Never raises for Airtel's behaviour."""

    def __init__(self, config: AirtelConfig, session: aiohttp.ClientSession) -> None:
        self._config = config
        self._session = session
        self._base = config.base_url.rstrip("/")
        self._tokens = TokenCache(self._fetch_token, margin_s=config.token_margin_s)

    @property
    def provider(self) -> Provider:
        return Provider.AIRTEL

    async def _fetch_token(self) -> tuple[str, float] | None:
        body = json_bytes(
            {
                "client_id": self._config.client_id,
                "client_secret": self._config.client_secret,
                "grant_type": "client_credentials",
            }
        )
        headers = {"Content-Type": "application/json", "Accept": "*/*"}
        url = f"{self._base}/auth/oauth2/token"
        reply = await call(self._session, "POST", url, headers=headers, body=body, timeout_s=self._config.timeout_s)
        data = reply.json() if reply.status == 200 else None
        token = text(data, "access_token")
        seconds = lifetime(data.get("expires_in") if isinstance(data, dict) else None)
        if not token or seconds is None:
            log.warning("Airtel token refused: HTTP %s %s", reply.status, reply.detail)
            return None
        return token, seconds

    def _headers(self, token: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {token}",
            "X-Country": self._config.country,
            "X-Currency": self._config.currency,
            "Accept": "*/*",
            "Content-Type": "application/json",
        }

    async def _send(self, method: str, path: str, body: bytes | None = None) -> Reply:
        url = f"{self._base}{path}"

        async def send(token: str) -> Reply:
            headers = self._headers(token)
            return await call(self._session, method, url, headers=headers, body=body, timeout_s=self._config.timeout_s)

        return await self._tokens.send(send)

    async def request_payment(self, order: PaymentOrder) -> SubmitOutcome:
        msisdn = national_number(order.msisdn)
        if msisdn is None:
            return SubmitOutcome(SubmitResult.REJECTED, R.PAYER_NOT_FOUND.value, "not a Zambian number in E.164")
        amount = Decimal(kwacha_text(order.amount_ngwee))
        country, currency = self._config.country, self._config.currency
        body = {
            "reference": order.external_id,
            "subscriber": {"country": country, "currency": currency, "msisdn": msisdn},
            "transaction": {"amount": amount, "country": country, "currency": currency, "id": order.attempt_id},
        }
        reply = await self._send("POST", "/merchant/v1/payments/", json_bytes(body))
        return self._logged("payment", order, submit_outcome(reply, Direction.DEPOSIT), reply)

    async def pay_out(self, order: PaymentOrder) -> SubmitOutcome:
        msisdn = national_number(order.msisdn)
        if msisdn is None:
            return SubmitOutcome(SubmitResult.REJECTED, R.PAYEE_NOT_FOUND.value, "not a Zambian number in E.164")
        body = {
            "payee": {"msisdn": msisdn, "wallet_type": "NORMAL"},
            "reference": order.external_id,
            "pin": self._config.disbursement_pin,
            "transaction": {"amount": Decimal(kwacha_text(order.amount_ngwee)), "id": order.attempt_id, "type": "B2C"},
        }
        reply = await self._send("POST", "/standard/v1/disbursements/", json_bytes(body))
        return self._logged("disbursement", order, submit_outcome(reply, Direction.WITHDRAWAL), reply)

    @staticmethod
    def _logged(what: str, order: PaymentOrder, outcome: SubmitOutcome, reply: Reply) -> SubmitOutcome:
        log.info("Airtel %s %s: %s (HTTP %s) %s", what, order.attempt_id, outcome.result, reply.status, outcome.detail)
        return outcome

    async def status(self, direction: Direction, attempt_id: str) -> ProviderStatus:
        if direction not in (Direction.DEPOSIT, Direction.WITHDRAWAL):
            return ProviderStatus(ProviderState.UNKNOWN, detail=f"Airtel holds no {direction.value}")
        resource = "payments" if direction == Direction.DEPOSIT else "disbursements"
        reply = await self._send("GET", f"/standard/v1/{resource}/{attempt_id}")
        answer = status_of(reply, direction)
        log.info("Airtel %s status %s: %s (HTTP %s)", resource, attempt_id, answer.state, reply.status)
        return answer


def _codes(data: object) -> tuple[str, str, str, bool | None]:
    """(response_code, result_code, message, success) from Airtel's ``status`` block."""
    status = data.get("status") if isinstance(data, dict) else None
    success = status.get("success") if isinstance(status, dict) else None
    return (
        text(status, "response_code"),
        text(status, "result_code") or text(data, "status_code"),
        text(status, "message") or text(data, "status_message") or text(data, "error_description"),
        success if isinstance(success, bool) else None,
    )


def reason_for(direction: Direction, *codes: str) -> FailureReason | None:
    table = COLLECTION_REASONS if direction == Direction.DEPOSIT else DISBURSEMENT_REASONS
    for code in codes:
        reason = table.get(code) or COMMON_REASONS.get(code)
        if reason is not None:
            return reason
    return None


def submit_outcome(reply: Reply, direction: Direction) -> SubmitOutcome:
    if not reply.answered:
        return SubmitOutcome(SubmitResult.UNKNOWN, detail=reply.detail)
    data = reply.json()
    response, result, message, success = _codes(data)
    detail = f"HTTP {reply.status} {response or result} {message}".strip()
    if response in DUPLICATE or result in DUPLICATE:
        return SubmitOutcome(SubmitResult.DUPLICATE, detail=detail)
    if reply.status == 401 or reply.status in (408, 429) or reply.status >= 500:
        return SubmitOutcome(SubmitResult.UNKNOWN, detail=detail)
    if 200 <= reply.status < 300 and success is True:
        return SubmitOutcome(SubmitResult.ACCEPTED)
    if response in AMBIGUOUS or result in AMBIGUOUS or (200 <= reply.status < 300 and success is None):
        return SubmitOutcome(SubmitResult.UNKNOWN, detail=detail)  # includes a 2xx we cannot read
    if reply.status < 200 or 300 <= reply.status < 400:
        return SubmitOutcome(SubmitResult.UNKNOWN, detail=detail)
    reason = reason_for(direction, response, result) or R.OTHER
    return SubmitOutcome(SubmitResult.REJECTED, reason.value, detail)


def status_of(reply: Reply, direction: Direction) -> ProviderStatus:
    if not reply.answered:
        return ProviderStatus(ProviderState.UNKNOWN, detail=reply.detail)
    data = reply.json()
    response, result, message, _ = _codes(data)
    if reply.status == 404 or response in NOT_FOUND or result in NOT_FOUND:
        return ProviderStatus(ProviderState.NOT_FOUND, detail=message)
    if reply.status != 200:
        return ProviderStatus(ProviderState.UNKNOWN, detail=f"HTTP {reply.status} {response or result}".strip())
    inner = data.get("data") if isinstance(data, dict) else None
    transaction = inner.get("transaction") if isinstance(inner, dict) else None
    if not isinstance(transaction, dict):
        transaction = {}
    word = text(transaction, "status").upper()
    raw_amount = transaction.get("amount")
    amount = parse_kwacha(raw_amount) if raw_amount is not None else None
    if raw_amount is not None and amount is None:
        return ProviderStatus(ProviderState.UNKNOWN, detail="unreadable amount")
    money_id = text(transaction, "airtel_money_id")
    detail = text(transaction, "message") or message
    if word in _PENDING:
        return ProviderStatus(ProviderState.PENDING, detail=detail, amount_ngwee=amount)
    state = _STATES.get(word)
    if state is None:
        return ProviderStatus(ProviderState.UNKNOWN, detail=f"status {word or 'missing'}")
    if state is ProviderState.SUCCESSFUL:
        return ProviderStatus(state, detail=detail, provider_txn_id=money_id, amount_ngwee=amount)
    reason = R.EXPIRED if state is ProviderState.EXPIRED else reason_for(direction, response, result) or R.OTHER
    if reason is R.EXPIRED:
        state = ProviderState.EXPIRED
    codes = " ".join(c for c in (response, result) if c)
    return ProviderStatus(state, reason.value, f"{codes} {detail}".strip(), money_id, amount)


def parse_airtel_callback(body: bytes) -> str | None:
    """``transaction.id`` of an Airtel callback (our attempt id); None for a body we cannot read. Never raises."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    transaction = data.get("transaction") if isinstance(data, dict) else None
    found = transaction.get("id") if isinstance(transaction, dict) else None
    return found if isinstance(found, str) and found else None
