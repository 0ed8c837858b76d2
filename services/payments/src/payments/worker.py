"""The payments worker: processes payments and relays the outbox.

Run: `taskiq worker payments.worker:broker --workers 1 --no-configure-logging`.
"""

from kit.worker import create_worker
from payments import tasks
from payments.events import PROCESS_PAYMENT
from payments.settings import Settings

broker = create_worker(
    "payments",
    Settings(),
    tasks={PROCESS_PAYMENT: tasks.process_payment, "payments.handle_event": tasks.handle_event},
)
