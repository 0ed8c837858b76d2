"""taskiq tasks of the orders worker: each decodes its message and calls one use case."""

from typing import Any

from taskiq import Context, TaskiqDepends

from kit.events import Envelope
from kit.worker import message_id
from orders import service


async def handle_event(payload: dict[str, Any], context: Context = TaskiqDepends()) -> None:
    """`orders.handle_event`: payment events move orders along."""
    await service.apply_payment_event(
        context.state.db, message_id(context), Envelope.model_validate(payload)
    )
