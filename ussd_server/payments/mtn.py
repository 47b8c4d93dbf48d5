"""MTN MoMo Open API: Collection's requesttopay and Disbursement's transfer.

- ``POST /{collection|disbursement}/token/``: Basic ``api_user:api_key`` and the
  product's ``Ocp-Apim-Subscription-Key``; ``{access_token, token_type, expires_in}``.
- ``POST /collection/v1_0/requesttopay`` / ``POST /disbursement/v1_0/transfer``:
  ``X-Reference-Id`` is our attempt id (a UUID), ``externalId`` our payment
  id; 202 accepted, 409 a reference already used.
- ``GET .../requesttopay/{id}`` / ``GET .../transfer/{id}``: status PENDING,
  SUCCESSFUL or FAILED (with ``reason``: a string, or ``{code, message}`` as
  MTN's schema publishes it); 404 unknown.
- The callback to ``X-Callback-Url`` (a PUT) carries the same body.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

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
    Fetch,
    Reply,
    TokenCache,
    call,
    json_bytes,
    kwacha_text,
    lifetime,
    parse_kwacha,
    party_id,
)
from ussd_server.payments.http import text_field as text

log = logging.getLogger("enerlectra.payments.mtn")

Product = Literal["collection", "disbursement"]
_RESOURCE = {"collection": ("requesttopay", "payer"), "disbursement": ("transfer", "payee")}
_ANSWERED_LATER = {408, 429}  # not processed: nothing was decided


@dataclass(frozen=True, slots=True)
class MtnConfig:
    base_url: str  # https://proxy.momoapi.mtn.com, or the simulator
    api_user: str  # a UUID, per product in production (the same user may serve both here)
    api_key: str = field(repr=False)
    collection_key: str = field(repr=False)  # Ocp-Apim-Subscription-Key of Collection
    disbursement_key: str = field(repr=False)  # ... of Disbursement
    target_environment: str = "mtnzambia"
    currency: str = "ZMW"
    callback_url: str | None = None  # sent as X-Callback-Url on every submit
    timeout_s: float = 10.0  # one request, connect to last byte
    token_margin_s: float = 60.0  # a token is renewed this long before it expires

    def subscription_key(self, product: Product) -> str:
        return self.collection_key if product == "collection" else self.disbursement_key


class MtnMomo:
    """``engine.payments.ports.PaymentProvider`` for MTN MoMo. Never raises for MTN's behaviour."""

    def __init__(self, config: MtnConfig, session: aiohttp.ClientSession) -> None:
        self._config = config
        self._session = session
        self._base = config.base_url.rstrip("/")
        self._tokens: dict[Product, TokenCache] = {
            product: TokenCache(self._token_fetcher(product), margin_s=config.token_margin_s)
            for product in ("collection", "disbursement")
        }

    @property
    def provider(self) -> Provider:
        return Provider.MTN

    def _token_fetcher(self, product: Product) -> Fetch:
        async def fetch() -> tuple[str, float] | None:
            pair = f"{self._config.api_user}:{self._config.api_key}".encode()
            auth = "Basic " + base64.b64encode(pair).decode("ascii")
            headers = {"Authorization": auth, "Ocp-Apim-Subscription-Key": self._config.subscription_key(product)}
            reply = await call(
                self._session,
                "POST",
                f"{self._base}/{product}/token/",
                headers=headers,
                timeout_s=self._config.timeout_s,
            )
            data = reply.json() if reply.status == 200 else None
            token, seconds = text(data, "access_token"), lifetime(_get(data, "expires_in"))
            if not token or seconds is None:
                log.warning("MTN %s token refused: HTTP %s %s", product, reply.status, reply.detail)
                return None
            return token, seconds

        return fetch

    def _headers(self, product: Product, token: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {token}",
            "X-Target-Environment": self._config.target_environment,
            "Ocp-Apim-Subscription-Key": self._config.subscription_key(product),
        }

    async def request_payment(self, order: PaymentOrder) -> SubmitOutcome:
        return await self._submit("collection", order)

    async def pay_out(self, order: PaymentOrder) -> SubmitOutcome:
        return await self._submit("disbursement", order)

    async def _submit(self, product: Product, order: PaymentOrder) -> SubmitOutcome:
        resource, role = _RESOURCE[product]
        party = party_id(order.msisdn)
        if party is None:
            reason = FailureReason.PAYER_NOT_FOUND if role == "payer" else FailureReason.PAYEE_NOT_FOUND
            return SubmitOutcome(SubmitResult.REJECTED, reason.value, "not a Zambian number in E.164")
        body = json_bytes(
            {
                "amount": kwacha_text(order.amount_ngwee),
                "currency": self._config.currency,
                "externalId": order.external_id,
                role: {"partyIdType": "MSISDN", "partyId": party},
                "payerMessage": order.note,
                "payeeNote": order.note,
            }
        )
        url = f"{self._base}/{product}/v1_0/{resource}"

        async def send(token: str) -> Reply:
            headers = self._headers(product, token)
            headers["X-Reference-Id"] = order.attempt_id
            headers["Content-Type"] = "application/json"
            if self._config.callback_url:
                headers["X-Callback-Url"] = self._config.callback_url
            return await call(self._session, "POST", url, headers=headers, body=body, timeout_s=self._config.timeout_s)

        reply = await self._tokens[product].send(send)
        outcome = submit_outcome(reply)
        log.info("MTN %s %s: %s (HTTP %s) %s", resource, order.attempt_id, outcome.result, reply.status, outcome.detail)
        return outcome

    async def status(self, direction: Direction, attempt_id: str) -> ProviderStatus:
        if direction not in (Direction.DEPOSIT, Direction.WITHDRAWAL):
            return ProviderStatus(ProviderState.UNKNOWN, detail=f"MTN holds no {direction.value}")
        product: Product = "collection" if direction == Direction.DEPOSIT else "disbursement"
        url = f"{self._base}/{product}/v1_0/{_RESOURCE[product][0]}/{attempt_id}"

        async def send(token: str) -> Reply:
            return await call(
                self._session, "GET", url, headers=self._headers(product, token), timeout_s=self._config.timeout_s
            )

        reply = await self._tokens[product].send(send)
        answer = status_of(reply)
        log.info("MTN %s status %s: %s (HTTP %s)", product, attempt_id, answer.state, reply.status)
        return answer


def _get(data: object, key: str) -> object:
    return data.get(key) if isinstance(data, Mapping) else None


def _error_code(reply: Reply) -> tuple[str, str]:
    data = reply.json()
    return text(data, "code"), text(data, "message")


def submit_outcome(reply: Reply) -> SubmitOutcome:
    """What a requesttopay/transfer answer means: 202 accepted, 409 duplicate, 4xx rejected, anything else unknown."""
    if not reply.answered:
        return SubmitOutcome(SubmitResult.UNKNOWN, detail=reply.detail)
    code, message = _error_code(reply)
    detail = f"HTTP {reply.status} {code} {message}".strip()
    if 200 <= reply.status < 300:
        return SubmitOutcome(SubmitResult.ACCEPTED)
    if reply.status == 409:
        return SubmitOutcome(SubmitResult.DUPLICATE, detail=detail)
    if reply.status == 401 or reply.status in _ANSWERED_LATER or reply.status >= 500 or reply.status < 400:
        return SubmitOutcome(SubmitResult.UNKNOWN, detail=detail)
    return SubmitOutcome(SubmitResult.REJECTED, FailureReason.of(code or "OTHER").value, detail)


_STATES = {
    "PENDING": ProviderState.PENDING,
    "ONGOING": ProviderState.PENDING,
    "SUCCESSFUL": ProviderState.SUCCESSFUL,
    "FAILED": ProviderState.FAILED,
    "REJECTED": ProviderState.FAILED,
    "TIMEOUT": ProviderState.EXPIRED,
    "EXPIRED": ProviderState.EXPIRED,
}


def _reason(value: object) -> str:
    """MTN's ``reason``: a bare code, or ``{code, message}`` as its schema publishes it."""
    if isinstance(value, str):
        return value
    return text(value, "code")


def status_of(reply: Reply) -> ProviderStatus:
    if not reply.answered:
        return ProviderStatus(ProviderState.UNKNOWN, detail=reply.detail)
    if reply.status == 404:
        return ProviderStatus(ProviderState.NOT_FOUND)
    if reply.status != 200:
        return ProviderStatus(ProviderState.UNKNOWN, detail=f"HTTP {reply.status}")
    data = reply.json()
    state = _STATES.get(text(data, "status").upper())
    raw_amount = _get(data, "amount")
    amount = parse_kwacha(raw_amount) if raw_amount is not None else None
    if state is None or (raw_amount is not None and amount is None):
        return ProviderStatus(ProviderState.UNKNOWN, detail="unreadable status body")
    raw_reason = _reason(_get(data, "reason"))
    reason = ""
    if state in (ProviderState.FAILED, ProviderState.EXPIRED):
        status_word = text(data, "status").upper()
        fallback = {"REJECTED": "APPROVAL_REJECTED", "TIMEOUT": "EXPIRED", "EXPIRED": "EXPIRED"}.get(
            status_word, "OTHER"
        )
        reason = FailureReason.of(raw_reason or fallback).value
        if reason == FailureReason.EXPIRED.value:
            state = ProviderState.EXPIRED
    return ProviderStatus(
        state,
        reason=reason,
        detail=raw_reason if raw_reason and raw_reason != reason else "",
        provider_txn_id=text(data, "financialTransactionId"),
        amount_ngwee=amount,
    )


def parse_mtn_callback(body: bytes) -> str | None:
    """Our external id (``externalId``) from an MTN callback body; None for a body we cannot read. Never raises."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    external_id = data.get("externalId") if isinstance(data, dict) else None
    return external_id if isinstance(external_id, str) and external_id else None
