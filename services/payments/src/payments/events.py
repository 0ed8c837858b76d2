"""Events the payments service publishes, and which services' queues receive them."""

from kit.events import Envelope
from kit.outbox import OutboxMessage, event_messages
from payments.domain import Payment, PaymentStatus
from payments.schemas import PaymentPublic

PAYMENT_CREATED = "payment.created"
PAYMENT_PENDING = "payment.pending"
PAYMENT_SUCCESS = "payment.success"
PAYMENT_FAILED = "payment.failed"
PAYMENT_CAPTURED = "payment.captured"

# Subscribers by event type (DESIGN §2): webhooks gets every merchant-facing event; orders moves
# the order along (created → attempted → paid). Refunds reads a payment when it is first
# refunded instead of following every success (ADR 0011).
CONSUMERS: dict[str, tuple[str, ...]] = {
    PAYMENT_CREATED: ("webhooks", "orders"),
    PAYMENT_PENDING: ("webhooks",),
    PAYMENT_SUCCESS: ("webhooks", "orders"),
    PAYMENT_FAILED: ("webhooks",),
    PAYMENT_CAPTURED: ("webhooks",),
}


def payment_event(event_type: str, payment: Payment) -> list[OutboxMessage]:
    data = PaymentPublic.model_validate(payment).model_dump(mode="json")
    envelope = Envelope.new(event_type, payment.merchant_id, data)
    return event_messages(envelope, CONSUMERS[event_type])


def payment_created(payment: Payment) -> list[OutboxMessage]:
    """`payment.created` and `payment.pending` (the worker finds the payment in its table)."""
    return [*payment_event(PAYMENT_CREATED, payment), *payment_event(PAYMENT_PENDING, payment)]


def payment_completed(payment: Payment) -> list[OutboxMessage]:
    kind = PAYMENT_SUCCESS if payment.status is PaymentStatus.SUCCESS else PAYMENT_FAILED
    return payment_event(kind, payment)
