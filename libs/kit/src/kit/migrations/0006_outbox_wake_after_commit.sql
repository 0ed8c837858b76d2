-- ADR 0011: the relay is no longer woken by a NOTIFY inside the committing transaction. A
-- NOTIFY takes a database-wide lock from its commit until the commit is flushed, so every
-- transaction that wrote an outbox row committed (and waited for its fsync) one at a time:
-- about one commit per WAL flush, the ceiling of create-payment. The process that committed
-- now publishes the wake to Redis after its commit (kit.db), and the relay still polls.
DROP TRIGGER IF EXISTS outbox_notify ON outbox;
DROP FUNCTION IF EXISTS outbox_notify();
