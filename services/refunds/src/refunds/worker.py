"""The refunds worker: processes refunds and relays the outbox.

Run: `taskiq worker refunds.worker:broker --workers 1 --no-configure-logging`.
"""

from kit.worker import create_worker, reconciler
from refunds import tasks
from refunds.events import PROCESS_REFUND
from refunds.settings import Settings

broker = create_worker(
    "refunds",
    Settings(),
    jobs={PROCESS_REFUND: tasks.process_refund},
    chores=[(5.0, reconciler("stuck_refunds", tasks.requeue_stuck_refunds))],
)
