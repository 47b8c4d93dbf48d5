-- The daily SMS cap (engine/notifications.py) counts a recipient's rows since
-- the start of their local day each time an operation queues an SMS; this
-- index serves that count. Rows over the cap are kept with status 'folded'
-- and never sent: the status column has no CHECK to widen, and the claim only
-- takes 'pending' and 'failed' rows (outbox_due is partial on those), so the
-- new status needs no other schema change.
CREATE INDEX outbox_recipient_created ON outbox (recipient, created_at);
