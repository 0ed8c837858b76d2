-- A delivery that must wait for an earlier event of its object (ADR 0011, webhooks in order)
-- is kept pending with no `next_retry_at` ("held") and made due when that event's delivery
-- ends, instead of being due and skipped by every claim: a claim then reads what it can take,
-- not every delivery waiting behind an endpoint's retries. Held deliveries are found by the
-- payment they belong to (a refund's events wait for its payment's too).
CREATE INDEX delivery_held_idx ON delivery (endpoint_id, payment_id)
    WHERE status = 'pending' AND next_retry_at IS NULL;
