-- ADR 0011: a payment carries the time it is due for processing, decided at creation; the
-- worker claims due payments from this table (FOR UPDATE SKIP LOCKED) instead of receiving a
-- processing job through Redis, so a pending payment needs no message to be finished.
-- The default covers rows written by a previous version during a rolling deploy (due at once).
ALTER TABLE payment ADD COLUMN due_at timestamptz;
ALTER TABLE payment ALTER COLUMN due_at SET DEFAULT now();
UPDATE payment SET due_at = created_at WHERE status = 'pending';
CREATE INDEX payment_due_idx ON payment (due_at) WHERE status = 'pending';
-- order_ref (filled from order.created, which orders no longer publishes) and requeued_at (the
-- old reconciler's) are read by the previous version only; a later migration drops them once
-- no pod of that version runs (expand, then contract).
