"""Handlers of the payments worker: each calls one use case."""

from taskiq import TaskiqState

from kit.jobs import count_completed
from payments import service


async def process_due_payments(state: TaskiqState) -> float | None:
    """Claim: complete the payments whose processing time has come; seconds until the next."""
    done, due_in = await service.process_due_payments(state.db, state.settings.processing_rules())
    if done:
        await count_completed(state.redis, len(done))
    return due_in
