-- Mobile money (engine/payments): deposits from and withdrawals to MTN, Airtel
-- and Zamtel wallets, and sends between two of our wallets. A payment is a state
-- machine the worker drives by asking the provider; every change is a
-- compare-and-set on `version`, so a worker's poll and a provider's callback
-- acting on one payment at once cannot both win. Money moves only in the ledger
-- (transfer ids derived from the payment id); this table records what was asked
-- and what the provider said. Mirrors migrations/postgres/0008_payments.sql:
-- same columns in the same order, checks and indexes.

CREATE TABLE payments (
    id              TEXT    PRIMARY KEY,     -- our operation id: the idempotency key and the providers' external id
    reference       TEXT    NOT NULL,        -- what people read (SMS, statements)
    direction       TEXT    NOT NULL CHECK (direction IN ('deposit', 'withdrawal', 'transfer')),
    provider        TEXT    NOT NULL CHECK (provider IN ('mtn', 'airtel', 'zamtel', 'wallet')),
    user_id         INTEGER NOT NULL REFERENCES users (id),
    msisdn          TEXT    NOT NULL,        -- E.164: the mobile-money wallet debited or credited
    amount_ngwee    INTEGER NOT NULL CHECK (amount_ngwee > 0),
    state           TEXT    NOT NULL
        CHECK (state IN ('created', 'submitted', 'pending', 'successful', 'failed', 'expired', 'unknown')),
    attempt_id      TEXT    NOT NULL DEFAULT '',  -- the provider's reference for our request, the same on every retry
    counterparty_id INTEGER REFERENCES users (id),  -- the receiving user of a wallet-to-wallet send, else NULL
    provider_txn_id TEXT    NOT NULL DEFAULT '',
    reason          TEXT    NOT NULL DEFAULT '',  -- a FailureReason once failed, expired or held for review
    reason_detail   TEXT    NOT NULL DEFAULT '',  -- the provider's own words, for operators
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    next_check_at   INTEGER NOT NULL DEFAULT 0 CHECK (next_check_at >= 0),  -- 0: never again
    checks          INTEGER NOT NULL DEFAULT 0 CHECK (checks >= 0),
    review          INTEGER NOT NULL DEFAULT 0 CHECK (review IN (0, 1)),  -- polling gave up: an operator decides
    version         INTEGER NOT NULL DEFAULT 0 CHECK (version >= 0)
) STRICT;

-- A provider recognises a repeated submit by its attempt id, so two payments must
-- never share one: the second would be taken for a retry of the first.
CREATE UNIQUE INDEX payments_attempt ON payments (provider, attempt_id) WHERE attempt_id <> '';
-- The worker's claim: the oldest due rows that still need the provider. Final and
-- held rows leave the index, so it stays the size of the work in flight.
CREATE INDEX payments_due ON payments (next_check_at)
    WHERE state NOT IN ('successful', 'failed', 'expired') AND review = 0;
-- A user's history and limits (what they started), and sends they received.
CREATE INDEX payments_user ON payments (user_id, created_at);
CREATE INDEX payments_counterparty ON payments (counterparty_id, created_at) WHERE counterparty_id IS NOT NULL;
-- The operators' review queue, oldest first.
CREATE INDEX payments_review ON payments (created_at) WHERE review = 1;
-- Reconciling one provider's statement for a period, and its totals.
CREATE INDEX payments_provider ON payments (provider, created_at);

-- What the risk engine is told (velocity, many senders to one wallet, ...).
-- Append-only: evidence is never edited or removed.
CREATE TABLE risk_signals (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    kind    TEXT    NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id),
    detail  TEXT    NOT NULL,                -- a JSON object
    at      INTEGER NOT NULL
) STRICT;

CREATE INDEX risk_signals_user ON risk_signals (user_id, at);

CREATE TRIGGER risk_signals_no_update BEFORE UPDATE ON risk_signals
BEGIN SELECT RAISE(ABORT, 'risk signals are append-only'); END;
CREATE TRIGGER risk_signals_no_delete BEFORE DELETE ON risk_signals
BEGIN SELECT RAISE(ABORT, 'risk signals are append-only'); END;

-- How well we know who a user is (1: a phone number and a name, up to 3): it
-- sets their payment limits. Everyone starts at tier 1.
ALTER TABLE users ADD COLUMN kyc_tier INTEGER NOT NULL DEFAULT 1 CHECK (kyc_tier BETWEEN 1 AND 3);
