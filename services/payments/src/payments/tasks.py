"""taskiq tasks of the payments worker: each decodes its message and calls one use case."""

import random
from typing import Any

from taskiq import Context, TaskiqDepends

from kit.events import Envelope
from kit.worker import message_id
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


async def handle_event(payload: dict[str, Any], context: Context = TaskiqDepends()) -> None:
    """`payments.handle_event`: `order.created` keeps the order's amount, currency and merchant;
    `refund.processed` adds to the payment's `amount_refunded`."""
    await service.apply_event(
        context.state.db, message_id(context), Envelope.model_validate(payload)
    )


async def process_payment(payload: dict[str, Any], context: Context = TaskiqDepends()) -> None:
    """`payments.process_payment`: decide a pending payment's outcome."""
    state = context.state
    await service.process_payment(state.db, payload["payment_id"], rules_from(state.settings), _rng)
