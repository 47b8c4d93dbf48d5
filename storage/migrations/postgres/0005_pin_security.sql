-- PIN security and abuse limits. Mirrors migrations/sqlite/0005_pin_security.sql.
ALTER TABLE users ADD COLUMN pin_failures_total BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN pin_lock_stage BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN pin_must_change BIGINT NOT NULL DEFAULT 0 CHECK (pin_must_change IN (0, 1));
ALTER TABLE users ADD COLUMN hold_until BIGINT NOT NULL DEFAULT 0;

CREATE TABLE daily_counters (
    subject TEXT COLLATE "C" NOT NULL,
    kind    TEXT COLLATE "C" NOT NULL,
    day     BIGINT NOT NULL,
    count   BIGINT NOT NULL CHECK (count >= 0),
    PRIMARY KEY (subject, kind, day)
);

CREATE INDEX offers_pair ON offers (seller_id, buyer_id, status, expires_at);
