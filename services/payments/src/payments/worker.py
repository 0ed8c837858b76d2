"""The payments worker: processes payments and relays the outbox.

Run: `taskiq worker payments.worker:broker --workers 1 --no-configure-logging`.
"""

from taskiq import TaskiqState

from kit.worker import create_worker
from payments import service, tasks
from payments.events import PROCESS_PAYMENT
from payments.settings import Settings


async def prune_idempotency_keys(state: TaskiqState) -> None:
    await service.prune_idempotency_keys(state.db)


broker = create_worker(
    "payments",
    Settings(),
    tasks={PROCESS_PAYMENT: tasks.process_payment, "payments.handle_event": tasks.handle_event},
    chores=[(600.0, prune_idempotency_keys)],
)
