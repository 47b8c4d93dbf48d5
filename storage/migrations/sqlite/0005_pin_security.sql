-- PIN security and abuse limits.
-- Users: wrong PINs escalate the lock (30 min, 24 h, then until an operator
-- resets it), the lifetime count of wrong PINs is kept for operators, an
-- operator reset leaves a one-time PIN that must be changed, and holds money
-- and energy in the wallet for a while (a SIM-swap pattern).
ALTER TABLE users ADD COLUMN pin_failures_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN pin_lock_stage INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN pin_must_change INTEGER NOT NULL DEFAULT 0 CHECK (pin_must_change IN (0, 1));
ALTER TABLE users ADD COLUMN hold_until INTEGER NOT NULL DEFAULT 0;

-- Per-subject daily counters (gifts, offers, number lookups), counted in the
-- same transaction as what they count, so a refused operation uses none.
-- day: days since the epoch in local time.
CREATE TABLE daily_counters (
    subject TEXT    NOT NULL,
    kind    TEXT    NOT NULL,
    day     INTEGER NOT NULL,
    count   INTEGER NOT NULL CHECK (count >= 0),
    PRIMARY KEY (subject, kind, day)
) STRICT;

-- Open offers between one seller and one buyer are capped.
CREATE INDEX offers_pair ON offers (seller_id, buyer_id, status, expires_at);
