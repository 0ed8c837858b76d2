-- Transactional outbox (messages a use case wants published) and consumer inbox (messages handled).
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    message_id    text        NOT NULL,
    queue         text        NOT NULL,
    task_name     text        NOT NULL,
    payload       jsonb       NOT NULL,
    trace_context jsonb       NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;
CREATE UNIQUE INDEX outbox_message_queue_idx ON outbox (message_id, queue);

CREATE TABLE inbox (
    message_id  text PRIMARY KEY,
    handled_at  timestamptz NOT NULL DEFAULT now()
);
