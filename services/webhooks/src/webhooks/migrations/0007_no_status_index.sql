-- No query reads deliveries by status alone: claims, the backlog and abandoned attempts use the
-- partial index of pending deliveries, logs and replays the merchant's or the endpoint's index.
-- This one was only written, on every attempt (ADR 0011).
DROP INDEX IF EXISTS delivery_status_idx;
