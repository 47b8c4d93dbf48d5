-- End-of-session notifications from the USSD gateway, for completion and
-- drop-off per screen. The gateway's `input` field is not kept: it holds
-- every PIN the user typed.
CREATE TABLE ussd_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id  TEXT    NOT NULL UNIQUE,
    status      TEXT    NOT NULL,
    last_screen TEXT    NOT NULL DEFAULT '',
    hops        INTEGER NOT NULL DEFAULT 0,
    duration_ms INTEGER NOT NULL DEFAULT 0,
    error       TEXT    NOT NULL DEFAULT '',
    received_at INTEGER NOT NULL
) STRICT;

CREATE INDEX ussd_events_screen ON ussd_events (last_screen, status);
