"""Webhook use cases: endpoints, event intake, delivery attempts, logs, retries, events."""

from webhooks.service.deliveries import (
    Recorder,
    Sends,
    attempt_delivery,
    claim_due,
    fail_abandoned,
    get_delivery,
    list_deliveries,
    retry_delivery,
    send_test,
)
from webhooks.service.endpoints import (
    create_endpoint,
    delete_endpoint,
    enable_endpoint,
    get_default_endpoint,
    get_endpoint,
    list_changes,
    list_endpoints,
    regenerate_secret,
    rotate_secret,
    set_url,
    update_endpoint,
)
from webhooks.service.events import (
    get_event,
    list_events,
    prune_events,
    replay_failed,
    resend_event,
)
from webhooks.service.intake import (
    EVENTS_IN,
    receive_event,
    receive_events,
)

__all__ = [
    "EVENTS_IN",
    "Recorder",
    "Sends",
    "attempt_delivery",
    "claim_due",
    "create_endpoint",
    "delete_endpoint",
    "enable_endpoint",
    "fail_abandoned",
    "get_default_endpoint",
    "get_delivery",
    "get_endpoint",
    "get_event",
    "list_changes",
    "list_deliveries",
    "list_endpoints",
    "list_events",
    "prune_events",
    "receive_event",
    "receive_events",
    "regenerate_secret",
    "replay_failed",
    "resend_event",
    "retry_delivery",
    "rotate_secret",
    "send_test",
    "set_url",
    "update_endpoint",
]
