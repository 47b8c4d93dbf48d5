-- The market (engine/markets): each cluster's order book for peer-to-peer kWh, its
-- trades, the price posted for every delivery slot and what traded in it, the
-- quotes shown before a purchase, the tariffs prices are built from, what each user
-- bought a month (the lifeline allowance) and the fills an SMS has told of. Money
-- moves only in the ledger: an order's reservation is a pending transfer there, and
-- these rows record what it is for. Every change to a cluster's book first locks its
-- market_state row (lock_market), so one cluster's orders change one at a time.
-- Mirrors migrations/sqlite/0010_markets.sql: same columns in the same order, checks
-- and indexes. Booleans are BIGINT 0/1; ids and sort keys use the "C" collation, as
-- SQLite compares; times are UTC microseconds, prices ngwee/kWh.
-- A price's components and a tariff's periods are JSON kept as TEXT on both backends
-- (not JSONB, which reorders an object's keys), so they read back as they were written.

-- A cluster's market: the sequences that order its orders (time priority) and
-- trades, and the row every book change locks first.
CREATE TABLE market_state (
    cluster_id     TEXT COLLATE "C" PRIMARY KEY REFERENCES clusters (id),
    next_order_seq BIGINT NOT NULL DEFAULT 1 CHECK (next_order_seq >= 1),
    next_trade_seq BIGINT NOT NULL DEFAULT 1 CHECK (next_trade_seq >= 1)
);

-- A limit order for one delivery slot (or good for the rest of the day), in every
-- state it went through. Its id is the operation that placed it; its live
-- reservation is the pending transfer "<id>:r<fills>", of `reserved` (ngwee for a
-- buy, Wh for a sell; 0 once closed).
CREATE TABLE market_orders (
    id           TEXT COLLATE "C" PRIMARY KEY,
    reference    TEXT COLLATE "C" NOT NULL,
    cluster_id   TEXT COLLATE "C" NOT NULL REFERENCES clusters (id),
    user_id      BIGINT NOT NULL REFERENCES users (id),
    side         TEXT   NOT NULL CHECK (side IN ('buy', 'sell')),
    price        BIGINT NOT NULL CHECK (price > 0),
    wh           BIGINT NOT NULL CHECK (wh > 0),
    remaining_wh BIGINT NOT NULL CHECK (remaining_wh >= 0),
    slot_start   BIGINT NOT NULL,                 -- good-for-day orders: the first slot they may fill in
    good_for_day BIGINT NOT NULL CHECK (good_for_day IN (0, 1)),
    trade_until  BIGINT NOT NULL,                 -- gate closure: matched until then
    expires_at   BIGINT NOT NULL,                 -- what is left is released then
    seq          BIGINT NOT NULL CHECK (seq >= 1),
    state        TEXT   NOT NULL
        CHECK (state IN ('open', 'partial', 'filled', 'cancelled', 'expired', 'rejected')),
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    filled_value BIGINT NOT NULL DEFAULT 0 CHECK (filled_value >= 0),  -- sum of Wh x price of its fills
    fees_ngwee   BIGINT NOT NULL DEFAULT 0 CHECK (fees_ngwee >= 0),
    fills        BIGINT NOT NULL DEFAULT 0 CHECK (fills >= 0),
    reserved     BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    reason       TEXT   NOT NULL DEFAULT '',      -- why it was cancelled, expired or rejected
    -- Time priority is unique within a cluster.
    UNIQUE (cluster_id, seq),
    CHECK (remaining_wh <= wh)
);

-- The book, one index per side in priority order (best price, then arrival), holding
-- resting orders only: the best orders of a cluster are the first rows of a range
-- scan whatever the number of closed ones, and LIMIT stops it.
CREATE INDEX market_orders_buys ON market_orders (cluster_id, price DESC, seq)
    WHERE side = 'buy' AND state IN ('open', 'partial');
CREATE INDEX market_orders_sells ON market_orders (cluster_id, price, seq)
    WHERE side = 'sell' AND state IN ('open', 'partial');
-- A user's orders newest first ("My orders"), and how many of them are active.
CREATE INDEX market_orders_user ON market_orders (user_id, created_at);
CREATE INDEX market_orders_user_active ON market_orders (user_id)
    WHERE state IN ('open', 'partial');
-- The expiry sweep: a cluster's active orders whose slot (or day) ended, oldest first.
CREATE INDEX market_orders_expiry ON market_orders (cluster_id, expires_at)
    WHERE state IN ('open', 'partial');

-- One fill, at the resting order's price; id is "<cluster_id>:t<seq>". The orders'
-- ids are not foreign keys: a taker's trades may be written before its order row.
CREATE TABLE market_trades (
    id                    TEXT COLLATE "C" PRIMARY KEY,
    cluster_id            TEXT COLLATE "C" NOT NULL REFERENCES clusters (id),
    seq                   BIGINT NOT NULL CHECK (seq >= 1),
    slot_start            BIGINT NOT NULL,
    buy_order_id          TEXT COLLATE "C" NOT NULL,
    sell_order_id         TEXT COLLATE "C" NOT NULL,
    buyer_id              BIGINT NOT NULL REFERENCES users (id),
    seller_id             BIGINT NOT NULL REFERENCES users (id),
    taker                 TEXT   NOT NULL CHECK (taker IN ('buy', 'sell')),
    price                 BIGINT NOT NULL CHECK (price > 0),
    wh                    BIGINT NOT NULL CHECK (wh > 0),
    buyer_paid_ngwee      BIGINT NOT NULL CHECK (buyer_paid_ngwee >= 0),  -- fee apart
    seller_received_ngwee BIGINT NOT NULL CHECK (seller_received_ngwee >= 0),
    fee_ngwee             BIGINT NOT NULL CHECK (fee_ngwee >= 0),
    at                    BIGINT NOT NULL,
    -- A cluster's trades newest first, read backwards.
    UNIQUE (cluster_id, seq)
);

-- A user's trades newest first: where they bought, where they sold.
CREATE INDEX market_trades_buyer ON market_trades (buyer_id, at);
CREATE INDEX market_trades_seller ON market_trades (seller_id, at);

-- A cluster's price history, one row per slot: the price posted and why
-- (components: a JSON object of integers), then the slot's trades as OHLC and volume
-- (the posted price in all four until the first trade).
CREATE TABLE market_prices (
    cluster_id TEXT COLLATE "C" NOT NULL REFERENCES clusters (id),
    slot_start BIGINT NOT NULL,
    price      BIGINT NOT NULL CHECK (price > 0),
    components TEXT   NOT NULL,
    open       BIGINT NOT NULL,
    high       BIGINT NOT NULL,
    low        BIGINT NOT NULL,
    close      BIGINT NOT NULL,
    volume_wh  BIGINT NOT NULL DEFAULT 0 CHECK (volume_wh >= 0),
    trades     BIGINT NOT NULL DEFAULT 0 CHECK (trades >= 0),
    PRIMARY KEY (cluster_id, slot_start),
    CHECK (low <= open AND open <= high AND low <= close AND close <= high)
);

-- A price shown before a purchase from a cluster, paid exactly by the purchase that
-- names it (used_by: its operation id, '' until then). Short-lived: swept once expired.
CREATE TABLE market_quotes (
    id             TEXT COLLATE "C" PRIMARY KEY,
    user_id        BIGINT NOT NULL REFERENCES users (id),
    cluster_id     TEXT COLLATE "C" NOT NULL REFERENCES clusters (id),
    wh             BIGINT NOT NULL CHECK (wh > 0),
    price          BIGINT NOT NULL CHECK (price >= 0),
    lifeline_wh    BIGINT NOT NULL CHECK (lifeline_wh >= 0),
    lifeline_price BIGINT NOT NULL CHECK (lifeline_price >= 0),
    cost_ngwee     BIGINT NOT NULL CHECK (cost_ngwee >= 0),
    slot_start     BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_by        TEXT COLLATE "C" NOT NULL DEFAULT '',
    CHECK (lifeline_wh <= wh)
);

-- The sweep of expired quotes, oldest first.
CREATE INDEX market_quotes_expiry ON market_quotes (expires_at);

-- A cluster's price rules from effective_from on, with their source; periods is a
-- JSON array of time-of-use periods. The one in force is the latest that started.
CREATE TABLE market_tariffs (
    cluster_id     TEXT COLLATE "C" NOT NULL REFERENCES clusters (id),
    effective_from BIGINT NOT NULL,
    base           BIGINT NOT NULL CHECK (base > 0),
    floor          BIGINT NOT NULL CHECK (floor >= 0),
    cap            BIGINT NOT NULL,
    periods        TEXT   NOT NULL,
    lifeline_wh    BIGINT NOT NULL CHECK (lifeline_wh >= 0),
    source         TEXT   NOT NULL,
    source_date    TEXT   NOT NULL,               -- ISO date
    PRIMARY KEY (cluster_id, effective_from),
    CHECK (floor <= cap)
);

-- A user's energy bought in one local month (yyyymm) and what it cost, fees
-- included; lifeline_wh of it inside the lifeline allowance.
CREATE TABLE market_monthly (
    user_id     BIGINT NOT NULL REFERENCES users (id),
    month       BIGINT NOT NULL CHECK (month % 100 BETWEEN 1 AND 12),
    wh          BIGINT NOT NULL DEFAULT 0 CHECK (wh >= 0),
    ngwee       BIGINT NOT NULL DEFAULT 0 CHECK (ngwee >= 0),
    lifeline_wh BIGINT NOT NULL DEFAULT 0 CHECK (lifeline_wh >= 0),
    PRIMARY KEY (user_id, month),
    CHECK (lifeline_wh <= wh)
);

-- A user's fills in one cluster and slot: the first is told at once by SMS, the rest
-- (fills - told) folded into one at the slot's end.
CREATE TABLE market_notices (
    user_id        BIGINT NOT NULL REFERENCES users (id),
    cluster_id     TEXT COLLATE "C" NOT NULL REFERENCES clusters (id),
    slot_start     BIGINT NOT NULL,
    fills          BIGINT NOT NULL DEFAULT 0 CHECK (fills >= 0),
    told           BIGINT NOT NULL DEFAULT 0 CHECK (told >= 0),
    bought_wh      BIGINT NOT NULL DEFAULT 0 CHECK (bought_wh >= 0),
    sold_wh        BIGINT NOT NULL DEFAULT 0 CHECK (sold_wh >= 0),
    paid_ngwee     BIGINT NOT NULL DEFAULT 0 CHECK (paid_ngwee >= 0),  -- fees included
    received_ngwee BIGINT NOT NULL DEFAULT 0 CHECK (received_ngwee >= 0),
    PRIMARY KEY (user_id, cluster_id, slot_start),
    CHECK (told <= fills)
);

-- The notices still to fold, by cluster and slot. Told ones leave the index, so it
-- stays the size of what is owed an SMS.
CREATE INDEX market_notices_untold ON market_notices (cluster_id, slot_start, user_id)
    WHERE fills > told;
