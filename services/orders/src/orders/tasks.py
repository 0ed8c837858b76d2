"""Handlers of the orders worker: each decodes its message and calls one use case."""

from typing import Any

from taskiq import TaskiqState

from kit.events import Envelope
from orders import service


async def handle_event(state: TaskiqState, message_id: str, payload: dict[str, Any]) -> None:
    """`orders.handle_event`: payment events move orders along."""
    await service.apply_payment_event(state.db, message_id, Envelope.model_validate(payload))
