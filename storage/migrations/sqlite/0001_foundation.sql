-- Foundation: ledger (accounts, transfers, pending states, hash-chain head),
-- users, clusters and the SMS outbox.

CREATE TABLE accounts (
    id              TEXT PRIMARY KEY,
    ledger          TEXT    NOT NULL CHECK (ledger IN ('ZMW', 'KWH')),
    kind            TEXT    NOT NULL,
    owner           TEXT,
    flags           INTEGER NOT NULL DEFAULT 0,
    debits_pending  INTEGER NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    debits_posted   INTEGER NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_pending INTEGER NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
    credits_posted  INTEGER NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    timestamp       INTEGER NOT NULL,
    -- The database refuses an overdraft even if the engine had a bug.
    CHECK ((flags & 1) = 0 OR debits_pending + debits_posted <= credits_posted),
    CHECK ((flags & 2) = 0 OR credits_pending + credits_posted <= debits_posted)
) STRICT;

CREATE INDEX accounts_owner ON accounts (owner);

CREATE TABLE transfers (
    seq                INTEGER PRIMARY KEY,  -- position in the hash chain, from 1
    id                 TEXT    NOT NULL UNIQUE,
    debit_account_id   TEXT    NOT NULL REFERENCES accounts (id),
    credit_account_id  TEXT    NOT NULL REFERENCES accounts (id),
    amount             INTEGER NOT NULL CHECK (amount > 0),
    ledger             TEXT    NOT NULL,
    code               INTEGER NOT NULL,
    flags              INTEGER NOT NULL,
    pending_id         TEXT,
    timeout_s          INTEGER NOT NULL,
    reference          TEXT    NOT NULL,
    timestamp          INTEGER NOT NULL,
    hash               TEXT    NOT NULL,
    req_debit_account  TEXT    NOT NULL,
    req_credit_account TEXT    NOT NULL,
    req_amount         INTEGER NOT NULL,
    req_ledger         TEXT
) STRICT;

CREATE INDEX transfers_debit ON transfers (debit_account_id, seq);
CREATE INDEX transfers_credit ON transfers (credit_account_id, seq);
CREATE INDEX transfers_code ON transfers (code);
CREATE INDEX transfers_reference ON transfers (reference);

-- Transfers are immutable; the chain catches anyone who drops this trigger.
CREATE TRIGGER transfers_no_update BEFORE UPDATE ON transfers
BEGIN SELECT RAISE(ABORT, 'transfers are immutable'); END;
CREATE TRIGGER transfers_no_delete BEFORE DELETE ON transfers
BEGIN SELECT RAISE(ABORT, 'transfers are immutable'); END;

CREATE TABLE pending_transfers (
    id         TEXT PRIMARY KEY REFERENCES transfers (id),
    status     TEXT NOT NULL CHECK (status IN ('pending', 'posted', 'voided', 'expired')),
    expires_at INTEGER
) STRICT;

CREATE INDEX pending_due ON pending_transfers (expires_at) WHERE status = 'pending';

CREATE TABLE ledger_chain_head (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    seq       INTEGER NOT NULL,
    hash      TEXT    NOT NULL
) STRICT;

INSERT INTO ledger_chain_head (singleton, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE users (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    phone            TEXT    NOT NULL UNIQUE,
    name             TEXT    NOT NULL,
    language         TEXT    NOT NULL CHECK (language IN ('en', 'ny', 'bem')),
    pin_hash         TEXT    NOT NULL,
    pin_failures     INTEGER NOT NULL DEFAULT 0,
    pin_locked_until INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL
) STRICT;

CREATE TABLE clusters (
    id                  TEXT PRIMARY KEY,
    name                TEXT    NOT NULL,
    kind                TEXT    NOT NULL CHECK (kind IN ('micro', 'neighbourhood', 'industrial', 'supply')),
    region              TEXT    NOT NULL,
    capacity_wh         INTEGER NOT NULL CHECK (capacity_wh >= 0),
    price_ngwee_per_kwh INTEGER NOT NULL CHECK (price_ngwee_per_kwh > 0),
    created_at          INTEGER NOT NULL
) STRICT;

CREATE INDEX clusters_region ON clusters (region, name);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    dedupe_key      TEXT    NOT NULL UNIQUE,
    recipient       TEXT    NOT NULL,
    language        TEXT    NOT NULL,
    template        TEXT    NOT NULL,
    params          TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    provider_ref    TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status IN ('pending', 'failed');
CREATE INDEX outbox_recipient ON outbox (recipient, id);
