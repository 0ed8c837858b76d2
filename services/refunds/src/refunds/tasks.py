"""taskiq tasks of the refunds worker: each decodes its message and calls one use case."""

import random
from typing import Any

from taskiq import Context, TaskiqDepends

from kit.events import Envelope
from kit.worker import message_id
from refunds import service
from refunds.domain import RefundTiming
from refunds.settings import Settings

_rng = random.SystemRandom()


def timing_from(settings: Settings) -> RefundTiming:
    return RefundTiming(
        settings.test_mode,
        settings.test_processing_delay,
        settings.refund_delay_min,
        settings.refund_delay_max,
    )


async def process_refund(payload: dict[str, Any], context: Context = TaskiqDepends()) -> None:
    """`refunds.process_refund`: wait, then mark the refund processed."""
    state = context.state
    await service.process_refund(state.db, payload["refund_id"], timing_from(state.settings), _rng)


async def handle_event(payload: dict[str, Any], context: Context = TaskiqDepends()) -> None:
    """`refunds.handle_event`: a successful payment becomes refundable."""
    await service.record_payment(
        context.state.db, message_id(context), Envelope.model_validate(payload)
    )
