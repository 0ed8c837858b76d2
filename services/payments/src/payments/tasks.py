"""Handlers of the payments worker: each decodes its message and calls one use case."""

import random
from typing import Any

from taskiq import TaskiqState

from payments import service
from payments.domain import ProcessingRules
from payments.settings import Settings

_rng = random.SystemRandom()


def rules_from(settings: Settings) -> ProcessingRules:
    return ProcessingRules(
        test_mode=settings.test_mode,
        test_payment_success=settings.test_payment_success,
        test_processing_delay_ms=settings.test_processing_delay,
        upi_success_rate=settings.upi_success_rate,
        card_success_rate=settings.card_success_rate,
        delay_min_ms=settings.processing_delay_min,
        delay_max_ms=settings.processing_delay_max,
    )


async def process_payment(state: TaskiqState, message_id: str, payload: dict[str, Any]) -> None:
    """`payments.process_payment`: decide a pending payment's outcome."""
    await service.process_payment(state.db, payload["payment_id"], rules_from(state.settings), _rng)


async def requeue_stuck_payments(state: TaskiqState) -> int:
    """Reconciler: pending past the deadline → processed again."""
    deadline = state.settings.processing_deadline_seconds
    return await service.requeue_stuck_payments(state.db, deadline)
