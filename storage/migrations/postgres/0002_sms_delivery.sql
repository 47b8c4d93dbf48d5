-- SMS delivery: find a sent message by the provider's reference when its
-- delivery report arrives. Mirrors migrations/sqlite/0002_sms_delivery.sql.
-- Partial on purpose: rows never sent have no reference, and the lookup
-- repeats the predicate (provider_ref <> '') so the planner can use it.
-- Every outbox write sets updated_at itself.

CREATE INDEX outbox_provider_ref ON outbox (provider_ref) WHERE provider_ref <> '';
