-- Energy offers: a seller's kWh reserved (a pending transfer) until the buyer
-- accepts with their PIN, declines, or the offer expires. Money never leaves a
-- buyer's wallet without the buyer's own confirmation.
CREATE TABLE offers (
    id                  TEXT    PRIMARY KEY,  -- the operation id; its pending transfer is '<id>:energy'
    reference           TEXT   NOT NULL,
    seller_id           INTEGER NOT NULL REFERENCES users (id),
    buyer_id            INTEGER NOT NULL REFERENCES users (id),
    wh                  INTEGER NOT NULL CHECK (wh > 0),
    price_ngwee_per_kwh INTEGER NOT NULL CHECK (price_ngwee_per_kwh > 0),
    cost_ngwee          INTEGER NOT NULL CHECK (cost_ngwee > 0),
    fee_ngwee           INTEGER NOT NULL CHECK (fee_ngwee >= 0),
    status              TEXT   NOT NULL CHECK (status IN ('open', 'accepted', 'declined')),
    created_at          INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL
) STRICT;

CREATE INDEX offers_buyer ON offers (buyer_id, status, expires_at);
