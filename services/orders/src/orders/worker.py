"""The orders worker: relays the outbox (`taskiq worker orders.worker:broker`)."""

from kit.worker import create_worker
from orders.settings import Settings

broker = create_worker("orders", Settings(), tasks={})
