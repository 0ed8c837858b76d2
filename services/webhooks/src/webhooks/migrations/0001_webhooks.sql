-- A merchant's webhook endpoint (the spec's merchants.webhook_url / webhook_secret).
CREATE TABLE endpoint (
    merchant_id uuid        PRIMARY KEY,
    url         text,                       -- NULL: events are kept, nothing is delivered
    secret      varchar(64) NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Every merchant-facing event received, once, with the exact body that is signed and sent.
CREATE TABLE event (
    id          text        PRIMARY KEY,     -- the envelope id, evt_…; also `webhook-id`
    merchant_id uuid        NOT NULL,
    type        varchar(50) NOT NULL,
    body        text        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

-- The spec's webhook_logs: one row per event per endpoint, retried until success or 5 failures.
CREATE TABLE delivery (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    merchant_id     uuid        NOT NULL,
    event_id        text        NOT NULL REFERENCES event (id),
    event           varchar(50) NOT NULL,
    payment_id      varchar(64),
    refund_id       varchar(64),
    status          varchar(20) NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'success', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    last_attempt_at timestamptz,
    next_retry_at   timestamptz,
    response_code   integer,
    response_body   text,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX delivery_merchant_created_idx ON delivery (merchant_id, created_at DESC, id);
CREATE INDEX delivery_status_idx ON delivery (status);
CREATE INDEX delivery_due_idx ON delivery (next_retry_at) WHERE status = 'pending';

CREATE TABLE delivery_attempt (
    id            bigserial   PRIMARY KEY,
    delivery_id   uuid        NOT NULL REFERENCES delivery (id),
    attempt       integer     NOT NULL,
    attempted_at  timestamptz NOT NULL,
    url           text,
    response_code integer,
    response_body text,
    error         text,
    duration_ms   integer     NOT NULL
);
CREATE INDEX delivery_attempt_delivery_idx ON delivery_attempt (delivery_id, attempt);
