-- Energy cooperatives (engine/coops) and the scheduled jobs that drive their
-- proposals (engine/scheduler). A co-op is built on the cluster with the same id:
-- the cluster's treasury and pool accounts are the co-op's money and energy, so
-- money moves only in the ledger and these tables record who belongs, what was
-- proposed and decided, and the governance log. Members and proposals change by
-- compare-and-set on `version`, so two writers acting on one row cannot both win.
-- Mirrors migrations/postgres/0009_coops.sql: same columns in the same order, checks
-- and indexes. Booleans are INTEGER 0/1, as users.pin_must_change.

-- The co-op keeps its own name, kind and region (a co-op's region is one of four,
-- where a cluster's is free text); the row also holds the head of its governance
-- log (audit_seq, audit_hash), which every entry is appended under, one writer at
-- a time (coop_for_update).
CREATE TABLE coops (
    id           TEXT    PRIMARY KEY REFERENCES clusters (id),
    name         TEXT    NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind IN ('micro', 'neighbourhood', 'industrial', 'supply')),
    region       TEXT    NOT NULL CHECK (region IN ('lusaka', 'kabwe', 'copperbelt', 'rural')),
    bylaws       TEXT    NOT NULL,                 -- Bylaws.to_dict(): every bylaw, so a default changed later binds nobody
    founder_id   INTEGER NOT NULL REFERENCES users (id),
    state        TEXT    NOT NULL CHECK (state IN ('forming', 'active')),
    created_at   INTEGER NOT NULL,
    full_members INTEGER NOT NULL DEFAULT 0 CHECK (full_members >= 0),
    audit_seq    INTEGER NOT NULL DEFAULT 0 CHECK (audit_seq >= 0),
    audit_hash   TEXT    NOT NULL DEFAULT ''       -- '' until the first entry
) STRICT;

-- Listing co-ops by name, within a region or all of them.
CREATE INDEX coops_region ON coops (region, name);
CREATE INDEX coops_name ON coops (name);

-- A user's place in one co-op's register, in every state it went through (a
-- leaver's row stays: their refund is owed from it). Whole shares at par plus the
-- credit toward the next one make up the holding; that identity needs the co-op's
-- par value, so the service keeps it, not a CHECK. The phone is read from users.
CREATE TABLE coop_members (
    coop_id           TEXT    NOT NULL REFERENCES coops (id),
    user_id           INTEGER NOT NULL REFERENCES users (id),
    state             TEXT    NOT NULL
        CHECK (state IN ('applied', 'admitted', 'full', 'leaving', 'left', 'removed', 'rejected')),
    role              TEXT    NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'chair', 'treasurer')),
    contributed_ngwee INTEGER NOT NULL DEFAULT 0 CHECK (contributed_ngwee >= 0),
    refunded_ngwee    INTEGER NOT NULL DEFAULT 0 CHECK (refunded_ngwee >= 0),
    shares            INTEGER NOT NULL DEFAULT 0 CHECK (shares >= 0),
    credit_ngwee      INTEGER NOT NULL DEFAULT 0 CHECK (credit_ngwee >= 0),
    joined_at         INTEGER NOT NULL DEFAULT 0 CHECK (joined_at >= 0),
    exit_at           INTEGER NOT NULL DEFAULT 0 CHECK (exit_at >= 0),  -- when a leaver's notice ends
    version           INTEGER NOT NULL DEFAULT 0 CHECK (version >= 0),
    PRIMARY KEY (coop_id, user_id),
    -- Nobody is paid back more than they paid in.
    CHECK (refunded_ngwee <= contributed_ngwee)
) STRICT;

-- The co-ops a user belongs to (their "My co-ops" screen).
CREATE INDEX coop_members_user ON coop_members (user_id);
-- The register as members read it: current members, most shares first.
CREATE INDEX coop_members_shares ON coop_members (coop_id, shares DESC, joined_at, user_id)
    WHERE state IN ('admitted', 'full', 'leaving');
-- The refund queue: leavers whose notice ends first are paid first. Paid-up rows
-- leave the index, so it stays the size of what is owed.
CREATE INDEX coop_members_refund ON coop_members (coop_id, exit_at, user_id)
    WHERE state IN ('leaving', 'removed') AND contributed_ngwee > refunded_ngwee;

-- A proposal, with what it was decided under snapshotted when it was made (the
-- electorate's size and weight, quorum and thresholds), so a bylaw changed while
-- it is open does not move its goalposts. The tally is kept on the row (one CAS
-- per vote) and can be recounted from the governance log. proposer_id is NULL
-- when the platform opened it (an application to a co-op that admits by vote).
CREATE TABLE proposals (
    id                TEXT    PRIMARY KEY,
    coop_id           TEXT    NOT NULL REFERENCES coops (id),
    kind              TEXT    NOT NULL CHECK (kind IN ('buy_equipment', 'maintenance', 'admit_member',
                          'remove_member', 'set_price', 'change_bylaw', 'elect_role', 'decision')),
    proposer_id       INTEGER REFERENCES users (id),
    payload           TEXT    NOT NULL,               -- what the kind needs (item, amount, bylaw, ...)
    state             TEXT    NOT NULL CHECK (state IN ('pending', 'active', 'defeated', 'succeeded', 'queued',
                          'executed', 'cancelled', 'expired')),
    created_at        INTEGER NOT NULL,
    vote_start        INTEGER NOT NULL,
    vote_end          INTEGER NOT NULL,
    electorate_size   INTEGER NOT NULL CHECK (electorate_size >= 0),
    electorate_weight INTEGER NOT NULL CHECK (electorate_weight >= 0),
    quorum_pct        INTEGER NOT NULL CHECK (quorum_pct BETWEEN 0 AND 100),
    pass_pct          INTEGER NOT NULL CHECK (pass_pct BETWEEN 0 AND 100),
    supermajority     INTEGER NOT NULL CHECK (supermajority IN (0, 1)),
    hide_results      INTEGER NOT NULL DEFAULT 0 CHECK (hide_results IN (0, 1)),
    tally_yes         INTEGER NOT NULL DEFAULT 0 CHECK (tally_yes >= 0),
    tally_no          INTEGER NOT NULL DEFAULT 0 CHECK (tally_no >= 0),
    tally_abstain     INTEGER NOT NULL DEFAULT 0 CHECK (tally_abstain >= 0),
    tally_voters      INTEGER NOT NULL DEFAULT 0 CHECK (tally_voters >= 0),
    eta               INTEGER NOT NULL DEFAULT 0,     -- when a queued proposal is executed
    executed_at       INTEGER NOT NULL DEFAULT 0,
    failure           TEXT    NOT NULL DEFAULT '',    -- why the last execution failed
    reminded          INTEGER NOT NULL DEFAULT 0 CHECK (reminded IN (0, 1)),
    version           INTEGER NOT NULL DEFAULT 0 CHECK (version >= 0)
) STRICT;

-- A co-op's proposals newest first (read backwards).
CREATE INDEX proposals_coop ON proposals (coop_id, created_at, id);
-- How many proposals a member has open (the bylaws cap it). Closed proposals
-- leave the index.
CREATE INDEX proposals_open ON proposals (coop_id, proposer_id)
    WHERE state IN ('pending', 'active', 'succeeded', 'queued');

-- Who may vote on a proposal and how much each vote weighs, fixed when it was
-- made: a member who becomes full later does not vote on it, one who leaves
-- meanwhile still may. Up to a co-op's whole register per proposal, written in one
-- statement. "Who has not voted yet" (the reminder) walks this primary key and
-- probes the votes' one: no other index is needed.
CREATE TABLE proposal_electorate (
    proposal_id TEXT    NOT NULL REFERENCES proposals (id),
    user_id     INTEGER NOT NULL REFERENCES users (id),
    weight      INTEGER NOT NULL CHECK (weight >= 0),
    PRIMARY KEY (proposal_id, user_id)
) STRICT;

-- A member's current vote (a changed vote replaces it; every vote cast is in the
-- governance log).
CREATE TABLE votes (
    proposal_id TEXT    NOT NULL REFERENCES proposals (id),
    user_id     INTEGER NOT NULL REFERENCES users (id),
    choice      INTEGER NOT NULL CHECK (choice BETWEEN 1 AND 3),  -- as keyed: 1 Yes, 2 No, 3 Abstain
    weight      INTEGER NOT NULL CHECK (weight >= 0),
    at          INTEGER NOT NULL,
    changes     INTEGER NOT NULL DEFAULT 0 CHECK (changes >= 0),
    PRIMARY KEY (proposal_id, user_id)
) STRICT;

-- The governance log: every proposal, vote, transition and execution, each entry
-- hash-chained to the one before within its co-op (engine/coops/audit.py).
-- Append-only: evidence is never edited or removed; an edit made behind the
-- database's back breaks the chain. actor_id 0 is the platform; proposal_id is ''
-- for an entry about no proposal.
CREATE TABLE coop_audit (
    coop_id     TEXT    NOT NULL REFERENCES coops (id),
    seq         INTEGER NOT NULL CHECK (seq >= 1),
    kind        TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    actor_id    INTEGER NOT NULL,
    proposal_id TEXT    NOT NULL DEFAULT '',
    body        TEXT    NOT NULL,                 -- a JSON object
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL,
    PRIMARY KEY (coop_id, seq)
) STRICT;

CREATE TRIGGER coop_audit_no_update BEFORE UPDATE ON coop_audit
BEGIN SELECT RAISE(ABORT, 'the co-op governance log is append-only'); END;
CREATE TRIGGER coop_audit_no_delete BEFORE DELETE ON coop_audit
BEGIN SELECT RAISE(ABORT, 'the co-op governance log is append-only'); END;

-- Equipment a supply co-op offers other co-ops, at its bulk price.
CREATE TABLE coop_catalog (
    supplier_id TEXT    NOT NULL REFERENCES coops (id),
    item_id     TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    price_ngwee INTEGER NOT NULL CHECK (price_ngwee > 0),
    capacity_wh INTEGER NOT NULL DEFAULT 0 CHECK (capacity_wh >= 0),
    PRIMARY KEY (supplier_id, item_id)
) STRICT;

-- Equipment a co-op owns, one row per item an executed proposal bought: the key
-- refuses recording one purchase twice.
CREATE TABLE coop_assets (
    coop_id     TEXT    NOT NULL REFERENCES coops (id),
    proposal_id TEXT    NOT NULL,
    item_id     TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    quantity    INTEGER NOT NULL CHECK (quantity > 0),
    cost_ngwee  INTEGER NOT NULL CHECK (cost_ngwee >= 0),
    supplier_id TEXT    NOT NULL,
    acquired_at INTEGER NOT NULL,
    PRIMARY KEY (proposal_id, item_id)
) STRICT;

CREATE INDEX coop_assets_coop ON coop_assets (coop_id, acquired_at);

-- Work due at a time (engine/scheduler): one row per (kind, key), so scheduling
-- the same work again moves it instead of queueing a second. A worker claims a row
-- by setting lease_until and bumping claims; `claims` is its compare-and-set token
-- when it settles, together with updated_at, which every write moves forward (by a
-- microsecond at least, even on a clock that stands still): a settle that finds
-- either changed lost to a reschedule, a cancel or another worker, and writes nothing.
CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    due_at      INTEGER NOT NULL CHECK (due_at >= 0),
    payload     TEXT    NOT NULL,                 -- a JSON object
    state       TEXT    NOT NULL CHECK (state IN ('due', 'done', 'dead')),
    attempts    INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),  -- failures since the last success
    lease_until INTEGER NOT NULL DEFAULT 0 CHECK (lease_until >= 0),
    last_error  TEXT    NOT NULL DEFAULT '',
    claims      INTEGER NOT NULL DEFAULT 0 CHECK (claims >= 0),
    updated_at  INTEGER NOT NULL,
    UNIQUE (kind, key)
) STRICT;

-- The workers' claim: the earliest due rows. Done and dead rows leave the index,
-- so it stays the size of the work waiting.
CREATE INDEX jobs_due ON jobs (due_at, id) WHERE state = 'due';
-- What operators look at: the dead jobs, by due time.
CREATE INDEX jobs_dead ON jobs (due_at, id) WHERE state = 'dead';
