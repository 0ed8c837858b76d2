"""Business metrics of payments (never ids in labels)."""

from prometheus_client import Counter, Histogram

PAYMENTS = Counter("payments_total", "Payments by method and status reached", ["method", "status"])
PAYMENT_AMOUNT = Counter(
    "payment_amount_minor_units_total",
    "Amount of successful payments, in minor units",
    ["currency"],
)
PROCESSING_SECONDS = Histogram(
    "payment_processing_duration_seconds",
    "From payment creation to its final status",
    ["method", "status"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 7.5, 10, 15, 30, 60),
)
