"""Events the refunds service publishes, and which services' queues receive them."""

from kit.events import Envelope
from kit.outbox import OutboxMessage, event_messages, job_message
from refunds.domain import Refund
from refunds.schemas import RefundPublic

REFUND_CREATED = "refund.created"
REFUND_PROCESSED = "refund.processed"

# webhooks tells the merchant; payments adds processed refunds to `amount_refunded`.
CONSUMERS: dict[str, tuple[str, ...]] = {
    REFUND_CREATED: ("webhooks",),
    REFUND_PROCESSED: ("webhooks", "payments"),
}

PROCESS_REFUND = "refunds.process_refund"


def refund_event(event_type: str, refund: Refund) -> list[OutboxMessage]:
    data = RefundPublic.model_validate(refund).model_dump(mode="json")
    return event_messages(Envelope.new(event_type, refund.merchant_id, data), CONSUMERS[event_type])


def refund_created(refund: Refund) -> list[OutboxMessage]:
    """`refund.created` and the job that processes the refund."""
    return [
        *refund_event(REFUND_CREATED, refund),
        process_job(refund.id),
    ]


def process_job(refund_id: str) -> OutboxMessage:
    return job_message("refunds", PROCESS_REFUND, {"refund_id": refund_id})
