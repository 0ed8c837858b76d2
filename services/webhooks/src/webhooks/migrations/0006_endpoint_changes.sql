-- What was done to a merchant's endpoints, when, and with which credential. Secrets are no
-- longer shown after create and rotate, so a rotation or a new URL the merchant did not make is
-- how a leaked API key shows itself: the dashboard lists these.
CREATE TABLE endpoint_change (
    id           bigserial PRIMARY KEY,
    merchant_id  uuid NOT NULL,
    endpoint_id  varchar(64) NOT NULL,           -- kept after the endpoint is deleted
    change       text NOT NULL,                  -- created, url_changed, secret_rotated, deleted
    url          text,                           -- the endpoint's URL after the change
    previous_url text,                           -- before it (url_changed)
    credential   text NOT NULL,                  -- api_key or session (the dashboard)
    changed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX endpoint_change_merchant_idx ON endpoint_change (merchant_id, id DESC);
