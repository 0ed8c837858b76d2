"""The settings of a fault-injection stack (the suite's and the soak's): short deadlines, so
repairs show up within a test."""

CHAOS_ENV = {
    "TEST_MODE": "true",
    "TEST_PROCESSING_DELAY": "300",
    "WEBHOOK_RETRY_INTERVALS_TEST": "true",
    "WORKER_HEARTBEAT_SECONDS": "2",
    "QUEUE_IDLE_TIMEOUT_MS": "5000",
    "QUEUE_RECLAIM_INTERVAL_SECONDS": "0.5",
    "TASK_TIMEOUT_SECONDS": "4",
    "CONSUMER_RETRY_BASE_SECONDS": "0.5",
    "CONSUMER_MAX_ATTEMPTS": "3",
    "OUTBOX_CONFIRM_GRACE_SECONDS": "2",
    "PROCESSING_DEADLINE_SECONDS": "10",
    "WEBHOOK_MAX_IN_FLIGHT_PER_MERCHANT": "4",
    # A window the other faults' few dozen messages fit in, and 155 payments do not.
    "OUTBOX_STREAM_WINDOW": "60",
}
