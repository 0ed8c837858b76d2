"""Events the orders service publishes, and which services' queues receive them."""

from kit.events import Envelope
from kit.outbox import OutboxMessage, event_messages
from orders.domain import Order, OrderStatus
from orders.schemas import OrderInEvent

ORDER_PAID = "order.paid"

# Subscribers by event type: exactly the services that declare them in `EVENTS_IN` (checked by
# the contract tests), so no worker spends a message on an event it ignores. A new order has
# none: payments reads it through the `order_ref_v1` view (ADR 0011), so creating one is a
# single INSERT with no outbox row.
CONSUMERS: dict[str, tuple[str, ...]] = {
    ORDER_PAID: ("webhooks",),  # merchants are told their order is paid
}

# What a payment event means for its order (events this service consumes).
ORDER_STATUS_AFTER = {"payment.created": OrderStatus.ATTEMPTED, "payment.success": OrderStatus.PAID}


def order_event(event_type: str, order: Order) -> tuple[Envelope, list[OutboxMessage]]:
    data = OrderInEvent.model_validate(order).model_dump(mode="json")
    envelope = Envelope.new(event_type, order.merchant_id, data)
    return envelope, event_messages(envelope, CONSUMERS[event_type])
