"""Handlers of the refunds worker: each decodes its message and calls one use case."""

import random
from typing import Any

from taskiq import TaskiqState

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


async def process_refund(state: TaskiqState, message_id: str, payload: dict[str, Any]) -> None:
    """`refunds.process_refund`: wait, then mark the refund processed."""
    await service.process_refund(state.db, payload["refund_id"], timing_from(state.settings), _rng)


async def requeue_stuck_refunds(state: TaskiqState) -> int:
    """Reconciler: pending past the deadline → processed again."""
    deadline = state.settings.processing_deadline_seconds
    return await service.requeue_stuck_refunds(state.db, deadline)
