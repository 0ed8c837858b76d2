-- A merchant's own notes on a payment (issue 25, item 2): set at creation, replaced with
-- POST /api/v1/payments/{id}, carried by the payment's events and webhooks.
ALTER TABLE payment ADD COLUMN notes jsonb NOT NULL DEFAULT '{}'::jsonb;
