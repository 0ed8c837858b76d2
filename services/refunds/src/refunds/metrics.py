"""Business metrics of refunds (never ids in labels)."""

from prometheus_client import Counter

REFUNDS = Counter("refunds_total", "Refunds by status reached", ["status"])
REFUNDED_AMOUNT = Counter(
    "refund_amount_minor_units_total", "Amount of processed refunds, in minor units", ["currency"]
)
