-- Messages whose handler failed: retried from here with backoff (the schedule lives in Postgres,
-- so it survives restarts), then kept as dead letters for an operator (python -m kit.deadletters).
CREATE TABLE failed_message (
    message_id      text        NOT NULL,
    task_name       text        NOT NULL,
    payload         jsonb       NOT NULL,
    attempts        integer     NOT NULL,
    last_error      text        NOT NULL,
    first_failed_at timestamptz NOT NULL DEFAULT now(),
    last_failed_at  timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz,            -- NULL once dead
    dead_at         timestamptz,
    PRIMARY KEY (message_id, task_name),
    CHECK ((dead_at IS NULL) <> (next_attempt_at IS NULL))
);
CREATE INDEX failed_message_due_idx ON failed_message (next_attempt_at) WHERE dead_at IS NULL;

-- The relay remembers where each message landed and learns when its consumer group acknowledged
-- it: a published message that Redis lost before that is published again (kit.outbox.Confirmer).
ALTER TABLE outbox ADD COLUMN stream_id text, ADD COLUMN confirmed_at timestamptz;
UPDATE outbox SET confirmed_at = published_at WHERE published_at IS NOT NULL;
CREATE INDEX outbox_unconfirmed_idx ON outbox (queue, id)
    WHERE published_at IS NOT NULL AND confirmed_at IS NULL;
