"""The payments worker: processes due payments, follows refunds and relays the outbox.

Run: `taskiq worker payments.worker:broker --workers 1 --no-configure-logging`.
"""

from kit.consumer import each
from kit.worker import create_worker
from payments import service, tasks
from payments.settings import Settings

broker = create_worker(
    "payments",
    Settings(),
    on_events=each(service.apply_event),
    event_types=service.EVENTS_IN,
    claims=[tasks.process_due_payments],
)
