-- Idempotency keys (kit.idempotency); unused tables cost nothing in services that do not need them.
CREATE TABLE idempotency_key (
    merchant_id     uuid         NOT NULL,
    endpoint        text         NOT NULL,
    key             varchar(255) NOT NULL,
    fingerprint     char(64)     NOT NULL,
    response_status integer,
    response_body   bytea,
    created_at      timestamptz  NOT NULL DEFAULT now(),
    expires_at      timestamptz  NOT NULL,
    PRIMARY KEY (merchant_id, endpoint, key)
);
CREATE INDEX idempotency_key_expires_idx ON idempotency_key (expires_at);
