"""Business metrics of webhook delivery (never ids or URLs in labels)."""

from prometheus_client import Counter, Gauge, Histogram

DELIVERIES = Counter(
    "webhook_deliveries_total", "Attempts by outcome: delivered, retrying, failed", ["outcome"]
)
DELIVERY_SECONDS = Histogram(
    "webhook_delivery_duration_seconds", "Time of one POST to a merchant",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)  # fmt: skip
ATTEMPTS = Histogram(
    "webhook_delivery_attempts", "Attempts a delivery took to succeed or fail for good",
    buckets=(1, 2, 3, 4, 5),
)  # fmt: skip
DUE_BACKLOG = Gauge("webhook_due_deliveries", "Deliveries due now and not yet attempted")
ENDPOINTS_DISABLED = Counter(
    "webhook_endpoints_disabled_total",
    "Endpoints disabled automatically after failing for WEBHOOK_DISABLE_AFTER_SECONDS",
)
