"""The simulator's settings: the credentials it accepts and how its providers behave."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CallbackMethod = Literal["PUT", "POST"]


@dataclass(frozen=True, slots=True)
class MomoSimConfig:
    """What one simulator process accepts and how its two providers behave.

    Credentials are what a real provider issues on its portal: MTN's API user
    and key (Basic auth on the token endpoints) and one subscription key per
    product (``Ocp-Apim-Subscription-Key``); Airtel's OAuth2 client id and
    secret. Nothing else is accepted.
    """

    # MTN MoMo Open API
    mtn_api_user: str = "5f0a7c52-3b9e-4d1a-9c1e-0b8d3f6a2e71"
    mtn_api_key: str = "sim-mtn-api-key"
    mtn_collection_key: str = "sim-mtn-collection-subscription-key"
    mtn_disbursement_key: str = "sim-mtn-disbursement-subscription-key"
    mtn_target_environment: str = "mtnzambia"
    mtn_token_ttl_s: int = 3600
    mtn_callback_method: CallbackMethod = "PUT"
    # MTN publishes ``reason`` as an object ({code, message}); its sandbox and
    # most integrations see a bare string. False sends the string.
    mtn_reason_as_object: bool = False
    # Airtel Money Africa API
    airtel_client_id: str = "sim-airtel-client-id"
    airtel_client_secret: str = "sim-airtel-client-secret"
    airtel_token_ttl_s: int = 180
    # Airtel's callback URL is set on its portal, not per request (None: no callbacks).
    airtel_callback_url: str | None = None
    # The encrypted disbursement PIN expected in the body (None: any non-empty PIN).
    airtel_disbursement_pin: str | None = None
    # Behaviour
    approve_after_ms: int | None = None  # None: a collection waits for the handset (or expires)
    expire_after_s: float = 300.0  # a collection not approved by then fails with EXPIRED
    disburse_after_ms: int = 0  # a disbursement's outcome after this delay
    hang_s: float = 30.0  # how long a "hang" fault holds a response
    late_callback_ms: int = 50  # how long after the expiry a "late" callback follows
    float_ngwee: int = 100_000_000  # each provider's merchant wallet starts with K1,000,000.00
    # Numbers outside the provider's ranges have no wallet there: PAYER_/PAYEE_NOT_FOUND.
    enforce_networks: bool = True
    seed: int = 0
    currency: str = "ZMW"
    country: str = "ZM"
    merchant_name: str = "ENERLECTRA"
