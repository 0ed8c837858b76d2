CREATE TABLE merchant (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name            varchar(255) NOT NULL,
    email           varchar(255) NOT NULL,
    api_key         varchar(64)  NOT NULL UNIQUE,
    api_secret_hash char(64)     NOT NULL,          -- sha256 hex of the high-entropy secret
    password_hash   text,                           -- scrypt; NULL = test-mode login only
    webhook_secret  varchar(64),                    -- initial secret, handed to the webhooks service
    is_active       boolean      NOT NULL DEFAULT true,
    created_at      timestamptz  NOT NULL DEFAULT now(),
    updated_at      timestamptz  NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX merchant_email_idx ON merchant (lower(email));

CREATE TABLE dashboard_session (
    token_hash  char(64)    PRIMARY KEY,
    merchant_id uuid        NOT NULL REFERENCES merchant (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX dashboard_session_expires_idx ON dashboard_session (expires_at);
