"""The payments worker: processes payments and relays the outbox.

Run: `taskiq worker payments.worker:broker --workers 1 --no-configure-logging`.
"""

from kit.worker import create_worker, reconciler
from payments import service, tasks
from payments.events import PROCESS_PAYMENT
from payments.settings import Settings

broker = create_worker(
    "payments",
    Settings(),
    on_event=service.apply_event,
    event_types=service.EVENTS_IN,
    jobs={PROCESS_PAYMENT: tasks.process_payment},
    chores=[(5.0, reconciler("stuck_payments", tasks.requeue_stuck_payments))],
)
