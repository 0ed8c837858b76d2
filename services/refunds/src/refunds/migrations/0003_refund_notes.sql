-- A merchant's own notes on a refund (issue 25, item 2): set at creation, replaced with
-- POST /api/v1/refunds/{id}, carried by the refund's events and webhooks.
ALTER TABLE refund ADD COLUMN notes jsonb NOT NULL DEFAULT '{}'::jsonb;
