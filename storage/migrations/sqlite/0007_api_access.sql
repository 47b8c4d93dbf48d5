-- The REST API's access records (engine/access): operators' and partners' API
-- keys, users' sign-in tokens, and idempotency keys. No secret is stored, only
-- its keyed hash (HMAC-SHA256 under a key derived from PIN_PEPPER), so a copy of
-- the database lets nobody call the API. Mirrors migrations/postgres/0007_api_access.sql.

CREATE TABLE api_keys (
    id         TEXT    PRIMARY KEY,              -- public: "key_7f3a9c2e1b4d"
    name       TEXT    NOT NULL,
    scopes     TEXT    NOT NULL,                 -- comma-separated: admin, partner, read
    key_hash   TEXT    NOT NULL UNIQUE,          -- every API request looks a key up by it
    created_at INTEGER NOT NULL,
    revoked_at INTEGER NOT NULL DEFAULT 0        -- 0: in use
) STRICT;

-- Deleted at sign-out, when the PIN changes or is reset, and once expired.
CREATE TABLE api_tokens (
    token_hash TEXT    PRIMARY KEY,              -- every request of a signed-in user looks it up by this
    user_id    INTEGER NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX api_tokens_user ON api_tokens (user_id);
CREATE INDEX api_tokens_expiry ON api_tokens (expires_at);

-- One row per caller and Idempotency-Key: the primary key is what lets only one
-- of two concurrent requests with the same key claim it.
CREATE TABLE api_idempotency (
    principal    TEXT    NOT NULL,               -- "user:42" or "key:key_7f3a9c2e1b4d"
    key          TEXT    NOT NULL,
    fingerprint  TEXT    NOT NULL,               -- keyed hash of method, path and body (which may hold a PIN)
    state        TEXT    NOT NULL CHECK (state IN ('running', 'done')),
    created_at   INTEGER NOT NULL,
    locked_until INTEGER NOT NULL,               -- a running claim past this belongs to a request that died
    expires_at   INTEGER NOT NULL,               -- kept 24 h
    status       INTEGER NOT NULL DEFAULT 0,     -- the first answer, once done
    body         TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (principal, key)
) STRICT;

CREATE INDEX api_idempotency_expiry ON api_idempotency (expires_at);
