-- End-of-session notifications from the USSD gateway, for completion and
-- drop-off per screen. The gateway's `input` field is not kept: it holds
-- every PIN the user typed.
CREATE TABLE ussd_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id  TEXT   NOT NULL UNIQUE,
    status      TEXT   NOT NULL,
    last_screen TEXT   NOT NULL DEFAULT '',
    hops        BIGINT NOT NULL DEFAULT 0,
    duration_ms BIGINT NOT NULL DEFAULT 0,
    error       TEXT   NOT NULL DEFAULT '',
    received_at BIGINT NOT NULL
);

CREATE INDEX ussd_events_screen ON ussd_events (last_screen, status);
