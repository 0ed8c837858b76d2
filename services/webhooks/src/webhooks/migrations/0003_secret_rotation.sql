-- Rotating an endpoint's secret with an overlap: the secret it replaced keeps signing (beside
-- the new one, in `webhook-signature`) until `previous_secret_expires_at`.
ALTER TABLE endpoint
    ADD COLUMN previous_secret            varchar(64),
    ADD COLUMN previous_secret_expires_at timestamptz;
