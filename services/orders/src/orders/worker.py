"""The orders worker: follows payment events and relays the outbox.

Run: `taskiq worker orders.worker:broker --workers 1 --no-configure-logging`.
"""

from kit.worker import create_worker
from orders import service
from orders.settings import Settings

broker = create_worker(
    "orders", Settings(), on_events=service.apply_payment_events, event_types=service.EVENTS_IN
)
