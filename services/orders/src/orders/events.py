"""Events the orders service publishes, and which services' queues receive them."""

from kit.events import Envelope
from kit.outbox import OutboxMessage, event_messages
from orders.domain import Order
from orders.schemas import OrderPublic

ORDER_CREATED = "order.created"

# Subscribers by event type (DESIGN §2): every merchant-facing event goes to webhooks.
CONSUMERS: dict[str, tuple[str, ...]] = {ORDER_CREATED: ("webhooks",)}


def order_created(order: Order) -> tuple[Envelope, list[OutboxMessage]]:
    data = OrderPublic.model_validate(order).model_dump(mode="json")
    envelope = Envelope.new(ORDER_CREATED, order.merchant_id, data)
    return envelope, event_messages(envelope, CONSUMERS[ORDER_CREATED])
