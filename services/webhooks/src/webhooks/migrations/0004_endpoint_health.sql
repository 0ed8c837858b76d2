-- Endpoint health: an endpoint whose attempts have failed since `failing_since` for longer than
-- WEBHOOK_DISABLE_AFTER_SECONDS is disabled, with the time and the reason.
ALTER TABLE endpoint
    ADD COLUMN failing_since   timestamptz,   -- first failed attempt since the last success
    ADD COLUMN disabled_at     timestamptz,
    ADD COLUMN disabled_reason text;

-- What an event is about, so deliveries created after intake (a replay, a resend) link their
-- payment or refund as intake does, and events can be looked up by the object's id.
ALTER TABLE event
    ADD COLUMN object_id  varchar(64),   -- the payment, refund or order the event carries
    ADD COLUMN payment_id varchar(64),
    ADD COLUMN refund_id  varchar(64);
UPDATE event SET
    object_id  = coalesce(b -> 'data' -> 'payment' ->> 'id', b -> 'data' -> 'refund' ->> 'id',
                          b -> 'data' -> 'order' ->> 'id'),
    payment_id = coalesce(b -> 'data' -> 'payment' ->> 'id', b -> 'data' -> 'refund' ->> 'payment_id'),
    refund_id  = b -> 'data' -> 'refund' ->> 'id'
FROM (SELECT id AS event_id, body::jsonb AS b FROM event) AS parsed
WHERE parsed.event_id = event.id;
-- The moment each event arrived, not its transaction's start (replays and retention use it).
ALTER TABLE event ALTER COLUMN received_at SET DEFAULT clock_timestamp();
CREATE INDEX event_merchant_received_idx ON event (merchant_id, received_at DESC, id);
CREATE INDEX event_object_idx ON event (merchant_id, object_id);
CREATE INDEX event_received_idx ON event (received_at);
