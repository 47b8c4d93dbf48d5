-- Foundation: ledger (accounts, transfers, pending states, hash-chain head),
-- users, clusters and the SMS outbox. Mirrors migrations/sqlite/0001_foundation.sql:
-- same tables, columns (in the same order), checks and indexes. Every integer is
-- BIGINT, like SQLite's 64-bit INTEGER. Ids and sort keys use the "C" collation so
-- ORDER BY and range scans compare bytes, as SQLite does, whatever the database's
-- default collation.

CREATE TABLE accounts (
    id              TEXT COLLATE "C" PRIMARY KEY,
    ledger          TEXT   NOT NULL CHECK (ledger IN ('ZMW', 'KWH')),
    kind            TEXT   NOT NULL,
    owner           TEXT,
    flags           BIGINT NOT NULL DEFAULT 0,
    debits_pending  BIGINT NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    debits_posted   BIGINT NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_pending BIGINT NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
    credits_posted  BIGINT NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    timestamp       BIGINT NOT NULL,
    -- The database refuses an overdraft even if the engine had a bug.
    CONSTRAINT accounts_debits_must_not_exceed_credits
        CHECK ((flags & 1) = 0 OR debits_pending + debits_posted <= credits_posted),
    CONSTRAINT accounts_credits_must_not_exceed_debits
        CHECK ((flags & 2) = 0 OR credits_pending + credits_posted <= debits_posted)
);

CREATE INDEX accounts_owner ON accounts (owner);

CREATE TABLE transfers (
    seq                BIGINT PRIMARY KEY,  -- position in the hash chain, from 1
    id                 TEXT   NOT NULL CONSTRAINT transfers_id_key UNIQUE,
    debit_account_id   TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    credit_account_id  TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    amount             BIGINT NOT NULL CHECK (amount > 0),
    ledger             TEXT   NOT NULL,
    code               BIGINT NOT NULL,
    flags              BIGINT NOT NULL,
    pending_id         TEXT,
    timeout_s          BIGINT NOT NULL,
    reference          TEXT   NOT NULL,
    timestamp          BIGINT NOT NULL,
    hash               TEXT   NOT NULL,
    req_debit_account  TEXT   NOT NULL,
    req_credit_account TEXT   NOT NULL,
    req_amount         BIGINT NOT NULL,
    req_ledger         TEXT
);

CREATE INDEX transfers_debit ON transfers (debit_account_id, seq);
CREATE INDEX transfers_credit ON transfers (credit_account_id, seq);
CREATE INDEX transfers_code ON transfers (code);
CREATE INDEX transfers_reference ON transfers (reference);

-- Transfers are immutable; the chain catches anyone who drops this trigger.
CREATE FUNCTION transfers_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'transfers are immutable';
END;
$$;

CREATE TRIGGER transfers_no_update_or_delete BEFORE UPDATE OR DELETE ON transfers
FOR EACH ROW EXECUTE FUNCTION transfers_immutable();

CREATE TABLE pending_transfers (
    id         TEXT PRIMARY KEY REFERENCES transfers (id),
    status     TEXT NOT NULL CHECK (status IN ('pending', 'posted', 'voided', 'expired')),
    expires_at BIGINT
);

CREATE INDEX pending_due ON pending_transfers (expires_at) WHERE status = 'pending';

CREATE TABLE ledger_chain_head (
    singleton BIGINT PRIMARY KEY CHECK (singleton = 1),
    seq       BIGINT NOT NULL,
    hash      TEXT   NOT NULL
);

INSERT INTO ledger_chain_head (singleton, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE users (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone            TEXT   NOT NULL CONSTRAINT users_phone_key UNIQUE,
    name             TEXT   NOT NULL,
    language         TEXT   NOT NULL CHECK (language IN ('en', 'ny', 'bem')),
    pin_hash         TEXT   NOT NULL,
    pin_failures     BIGINT NOT NULL DEFAULT 0,
    pin_locked_until BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL
);

CREATE TABLE clusters (
    id                  TEXT COLLATE "C" PRIMARY KEY,
    name                TEXT COLLATE "C" NOT NULL,
    kind                TEXT   NOT NULL CHECK (kind IN ('micro', 'neighbourhood', 'industrial', 'supply')),
    region              TEXT COLLATE "C" NOT NULL,
    capacity_wh         BIGINT NOT NULL CHECK (capacity_wh >= 0),
    price_ngwee_per_kwh BIGINT NOT NULL CHECK (price_ngwee_per_kwh > 0),
    created_at          BIGINT NOT NULL
);

CREATE INDEX clusters_region ON clusters (region, name);

CREATE TABLE outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dedupe_key      TEXT   NOT NULL CONSTRAINT outbox_dedupe_key_key UNIQUE,
    recipient       TEXT   NOT NULL,
    language        TEXT   NOT NULL,
    template        TEXT   NOT NULL,
    params          JSONB  NOT NULL,
    status          TEXT   NOT NULL DEFAULT 'pending',
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT   NOT NULL DEFAULT '',
    provider_ref    TEXT   NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status IN ('pending', 'failed');
CREATE INDEX outbox_recipient ON outbox (recipient, id);
