-- Several API keys per merchant, each rolled (expires_at: the old secret keeps working until
-- then) or revoked on its own. The merchant's one key moves here; its columns stay, nullable and
-- no longer written, for pods of the previous release during a rollout (a later release drops
-- them).
CREATE TABLE api_key (
    id          uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    merchant_id uuid         NOT NULL REFERENCES merchant (id),
    key         varchar(64)  NOT NULL UNIQUE,
    secret_hash char(64)     NOT NULL,      -- sha256 hex of the high-entropy secret
    label       varchar(100) NOT NULL DEFAULT '',
    created_at  timestamptz  NOT NULL DEFAULT now(),
    expires_at  timestamptz,                -- set by a roll: usable until then
    revoked_at  timestamptz
);
CREATE INDEX api_key_merchant_idx ON api_key (merchant_id, created_at DESC);

INSERT INTO api_key (merchant_id, key, secret_hash, label, created_at)
SELECT id, api_key, api_secret_hash, 'Default', created_at FROM merchant
ON CONFLICT (key) DO NOTHING;

ALTER TABLE merchant ALTER COLUMN api_key DROP NOT NULL;
ALTER TABLE merchant ALTER COLUMN api_secret_hash DROP NOT NULL;
