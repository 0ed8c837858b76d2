"""The refunds worker: processes refunds, tracks refundable payments, relays the outbox.

Run: `taskiq worker refunds.worker:broker --workers 1 --no-configure-logging`.
"""

from kit.worker import create_worker
from refunds import tasks
from refunds.events import PROCESS_REFUND
from refunds.settings import Settings

broker = create_worker(
    "refunds",
    Settings(),
    tasks={PROCESS_REFUND: tasks.process_refund, "refunds.handle_event": tasks.handle_event},
)
