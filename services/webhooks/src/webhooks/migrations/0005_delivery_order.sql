-- Webhooks in order, per object (ADR 0011): a delivery waits while an earlier event of the same
-- object (by `sequence`, its place in the object's life) is still pending to the same endpoint,
-- and a refund's while its payment's outcome is; given-up (failed) deliveries hold nothing.
ALTER TABLE delivery
    ADD COLUMN object_id varchar(64),   -- the payment, refund or order the event carries
    ADD COLUMN sequence  int;           -- the event's place in that object's life (1, 2, …)
UPDATE delivery d SET
    object_id = e.object_id,
    sequence = CASE d.event
        WHEN 'payment.created' THEN 1 WHEN 'payment.pending' THEN 2 WHEN 'payment.success' THEN 3
        WHEN 'payment.failed' THEN 3 WHEN 'payment.captured' THEN 4 WHEN 'refund.created' THEN 1
        WHEN 'refund.processed' THEN 2 WHEN 'order.paid' THEN 1 END
FROM event e WHERE e.id = d.event_id AND d.status = 'pending';
CREATE INDEX delivery_pending_object_idx ON delivery (endpoint_id, object_id, sequence)
    WHERE status = 'pending';
