-- A refund still pending past its processing deadline gets its processing job again
-- (refunds.service.requeue_stuck_refunds); requeued_at spaces those attempts out.
ALTER TABLE refund ADD COLUMN requeued_at timestamptz;
CREATE INDEX refund_pending_idx ON refund (created_at) WHERE status = 'pending';
