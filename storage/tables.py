"""Table specs: each table's columns in order with a type tag (see storage.columns for what derives from them).

Both schemas keep the same columns in the same order;
``tests/integration/test_schema_parity.py`` checks the two migrated schemas
against each other and against these specs. A spec lists the columns its
record maps, in table order; a table may have more (``outbox.updated_at`` is
written by statements, never read).
"""

from __future__ import annotations

import json
from typing import Any

from engine.access.model import ApiKey, IdempotencyRecord, IdempotencyState, Scope, UserToken
from engine.energy.model import Cluster, ClusterKind
from engine.identity.model import Language, User
from engine.ledger.model import Account, AccountFlags, AccountKind, Ledger, TransferFlags, TransferRecord
from engine.notifications.model import OutboxMessage, OutboxRow, OutboxStatus
from engine.payments.model import Direction, Payment, PaymentState, Provider
from engine.trading.model import Offer, OfferStatus
from storage.columns import INTEGER, JSON, TEXT, Column, Table
from storage.coop_tables import (
    COOP_ASSETS,
    COOP_AUDIT,
    COOP_CATALOG,
    COOP_MEMBERS,
    COOPS,
    JOBS,
    PROPOSAL_ELECTORATE,
    PROPOSALS,
    VOTES,
)
from storage.market_tables import MARKET_TABLES


def _optional_ledger(value: str | None) -> Ledger | None:
    return Ledger(value) if value else None


def _optional_str(value: object) -> str | None:
    return str(value) if value else None


def _outbox_row(
    row_id: int,
    dedupe_key: str,
    recipient: str,
    language: Language,
    template: str,
    params: dict[str, str | int],
    status: OutboxStatus,
    attempts: int,
    next_attempt_at: int,
    last_error: str,
    provider_ref: str,
    created_at: int,
) -> OutboxRow:
    message = OutboxMessage(dedupe_key, recipient, language, template, params, created_at)
    return OutboxRow(row_id, message, status, attempts, next_attempt_at, last_error, provider_ref)


ACCOUNTS = Table(
    "accounts",
    [
        Column("id", TEXT),
        Column("ledger", TEXT, decode=Ledger, encode=str),
        Column("kind", TEXT, decode=AccountKind, encode=str),
        Column("owner", TEXT),
        Column("flags", INTEGER, decode=AccountFlags, encode=int),
        Column("debits_pending", INTEGER),
        Column("debits_posted", INTEGER),
        Column("credits_pending", INTEGER),
        Column("credits_posted", INTEGER),
        Column("timestamp", INTEGER),
    ],
    Account,
)

TRANSFERS = Table(
    "transfers",
    [
        Column("seq", INTEGER),
        Column("id", TEXT),
        Column("debit_account_id", TEXT),
        Column("credit_account_id", TEXT),
        Column("amount", INTEGER),
        Column("ledger", TEXT, decode=Ledger, encode=str),
        Column("code", INTEGER, encode=int),
        Column("flags", INTEGER, decode=TransferFlags, encode=int),
        Column("pending_id", TEXT),
        Column("timeout_s", INTEGER),
        Column("reference", TEXT),
        Column("timestamp", INTEGER),
        Column("hash", TEXT),
        Column("req_debit_account", TEXT, attr="request_debit_account_id"),
        Column("req_credit_account", TEXT, attr="request_credit_account_id"),
        Column("req_amount", INTEGER, attr="request_amount"),
        Column("req_ledger", TEXT, attr="request_ledger", decode=_optional_ledger, encode=_optional_str),
    ],
    TransferRecord,
)

PENDING_TRANSFERS: Table[tuple[Any, ...]] = Table(
    "pending_transfers", [Column("id", TEXT), Column("status", TEXT), Column("expires_at", INTEGER)]
)

LEDGER_CHAIN_HEAD: Table[tuple[Any, ...]] = Table(
    "ledger_chain_head", [Column("singleton", INTEGER), Column("seq", INTEGER), Column("hash", TEXT)]
)

USERS = Table(
    "users",
    [
        Column("id", INTEGER, generated=True),
        Column("phone", TEXT),
        Column("name", TEXT),
        Column("language", TEXT, decode=Language, encode=str),
        Column("pin_hash", TEXT),
        Column("pin_failures", INTEGER),
        Column("pin_locked_until", INTEGER),
        Column("created_at", INTEGER),
        Column("pin_failures_total", INTEGER),
        Column("pin_lock_stage", INTEGER),
        Column("pin_must_change", INTEGER, decode=bool, encode=int),
        Column("hold_until", INTEGER),
        Column("kyc_tier", INTEGER),
    ],
    User,
)

# What save_pin_state writes: every PIN-failure counter, the lock, the must-change flag, the hold.
PIN_STATE = (
    "pin_failures",
    "pin_locked_until",
    "pin_failures_total",
    "pin_lock_stage",
    "pin_must_change",
    "hold_until",
)

CLUSTERS = Table(
    "clusters",
    [
        Column("id", TEXT),
        Column("name", TEXT),
        Column("kind", TEXT, decode=ClusterKind, encode=str),
        Column("region", TEXT),
        Column("capacity_wh", INTEGER),
        Column("price_ngwee_per_kwh", INTEGER),
        Column("created_at", INTEGER),
    ],
    Cluster,
)

OFFERS = Table(
    "offers",
    [
        Column("id", TEXT),
        Column("reference", TEXT),
        Column("seller_id", INTEGER),
        Column("buyer_id", INTEGER),
        Column("wh", INTEGER),
        Column("price_ngwee_per_kwh", INTEGER),
        Column("cost_ngwee", INTEGER),
        Column("fee_ngwee", INTEGER),
        Column("status", TEXT, decode=OfferStatus, encode=str),
        Column("created_at", INTEGER),
        Column("expires_at", INTEGER),
    ],
    Offer,
)

OUTBOX = Table(
    "outbox",
    [
        Column("id", INTEGER, generated=True),
        Column("dedupe_key", TEXT),
        Column("recipient", TEXT),
        Column("language", TEXT, decode=Language),
        Column("template", TEXT),
        Column("params", JSON, decode=json.loads),
        Column("status", TEXT, decode=OutboxStatus),
        Column("attempts", INTEGER),
        Column("next_attempt_at", INTEGER),
        Column("last_error", TEXT),
        Column("provider_ref", TEXT),
        Column("created_at", INTEGER),
    ],
    _outbox_row,
)

DAILY_COUNTERS: Table[tuple[Any, ...]] = Table(
    "daily_counters",
    [Column("subject", TEXT), Column("kind", TEXT), Column("day", INTEGER), Column("count", INTEGER)],
)

USSD_EVENTS: Table[tuple[Any, ...]] = Table(
    "ussd_events",
    [
        Column("id", INTEGER, generated=True),
        Column("session_id", TEXT),
        Column("status", TEXT),
        Column("last_screen", TEXT),
        Column("hops", INTEGER),
        Column("duration_ms", INTEGER),
        Column("error", TEXT),
        Column("received_at", INTEGER),
    ],
)


def _scopes(stored: str) -> frozenset[Scope]:
    return frozenset(Scope(s) for s in stored.split(",") if s)


def _stored_scopes(scopes: frozenset[Scope]) -> str:
    return ",".join(sorted(scopes))


API_KEYS = Table(
    "api_keys",
    [
        Column("id", TEXT),
        Column("name", TEXT),
        Column("scopes", TEXT, decode=_scopes, encode=_stored_scopes),  # comma-separated
        Column("key_hash", TEXT),
        Column("created_at", INTEGER),
        Column("revoked_at", INTEGER),
    ],
    ApiKey,
)

API_TOKENS = Table(
    "api_tokens",
    [
        Column("token_hash", TEXT),
        Column("user_id", INTEGER),
        Column("created_at", INTEGER),
        Column("expires_at", INTEGER),
    ],
    UserToken,
)

API_IDEMPOTENCY = Table(
    "api_idempotency",
    [
        Column("principal", TEXT),
        Column("key", TEXT),
        Column("fingerprint", TEXT),
        Column("state", TEXT, decode=IdempotencyState, encode=str),
        Column("created_at", INTEGER),
        Column("locked_until", INTEGER),
        Column("expires_at", INTEGER),
        Column("status", INTEGER),
        Column("body", TEXT),
    ],
    IdempotencyRecord,
)

PAYMENTS = Table(
    "payments",
    [
        Column("id", TEXT),
        Column("reference", TEXT),
        Column("direction", TEXT, decode=Direction, encode=str),
        Column("provider", TEXT, decode=Provider, encode=str),
        Column("user_id", INTEGER),
        Column("msisdn", TEXT),
        Column("amount_ngwee", INTEGER),
        Column("state", TEXT, decode=PaymentState, encode=str),
        Column("attempt_id", TEXT),
        Column("counterparty_id", INTEGER),  # NULL unless a send between two wallets
        Column("provider_txn_id", TEXT),
        Column("reason", TEXT),
        Column("reason_detail", TEXT),
        Column("created_at", INTEGER),
        Column("updated_at", INTEGER),
        Column("next_check_at", INTEGER),
        Column("checks", INTEGER),
        Column("review", INTEGER, decode=bool, encode=int),
        Column("version", INTEGER),
    ],
    Payment,
)

# What update_payment may change; the rest is fixed when the payment is made.
PAYMENT_CHANGES = (
    "state",
    "attempt_id",
    "provider_txn_id",
    "reason",
    "reason_detail",
    "updated_at",
    "next_check_at",
    "checks",
    "review",
)

RISK_SIGNALS: Table[tuple[Any, ...]] = Table(
    "risk_signals",
    [
        Column("id", INTEGER, generated=True),
        Column("kind", TEXT),
        Column("user_id", INTEGER),
        Column("detail", JSON, decode=json.loads),
        Column("at", INTEGER),
    ],
)

TABLES: tuple[Table[Any], ...] = (
    ACCOUNTS,
    TRANSFERS,
    PENDING_TRANSFERS,
    LEDGER_CHAIN_HEAD,
    USERS,
    CLUSTERS,
    OFFERS,
    OUTBOX,
    DAILY_COUNTERS,
    USSD_EVENTS,
    API_KEYS,
    API_TOKENS,
    API_IDEMPOTENCY,
    PAYMENTS,
    RISK_SIGNALS,
    COOPS,
    COOP_MEMBERS,
    PROPOSALS,
    PROPOSAL_ELECTORATE,
    VOTES,
    COOP_AUDIT,
    COOP_CATALOG,
    COOP_ASSETS,
    JOBS,
    *MARKET_TABLES,
)


def outbox_params_json(params: dict[str, str | int]) -> str:
    """How an outbox message's parameters are stored (compact, keys sorted)."""
    return json.dumps(params, separators=(",", ":"), sort_keys=True)


def risk_detail_json(detail: dict[str, str | int]) -> str:
    """How a risk signal's detail is stored (compact, keys sorted)."""
    return json.dumps(detail, separators=(",", ":"), sort_keys=True)
