-- A payment still pending past its processing deadline gets its processing job again
-- (payments.service.requeue_stuck_payments); requeued_at spaces those attempts out.
ALTER TABLE payment ADD COLUMN requeued_at timestamptz;
CREATE INDEX payment_pending_idx ON payment (created_at) WHERE status = 'pending';
