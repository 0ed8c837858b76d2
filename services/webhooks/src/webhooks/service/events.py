"""Events API use cases: what was sent, sending it again, replaying failures, and forgetting
events once their retention ends."""

import logging
from datetime import UTC, datetime, timedelta
from uuid import UUID

from kit.db import Database
from kit.paging import Listed, Page
from webhooks import repository
from webhooks.domain import (
    Delivery,
    EndpointNotFound,
    EndpointUnusable,
    Event,
    EventNotFound,
    Window,
)

log = logging.getLogger("webhooks.service")

PRUNE_BATCH = 1000
PRUNE_MAX_BATCHES = 50  # per run; the next run goes on


async def list_events(
    db: Database,
    merchant_id: UUID,
    event_type: str | None,
    object_id: str | None,
    window: Window,
    page: Page,
) -> Listed[Event]:
    async with db.transaction() as conn:
        return await repository.list_events(conn, merchant_id, event_type, object_id, window, page)


async def get_event(db: Database, merchant_id: UUID, event_id: str) -> tuple[Event, list[Delivery]]:
    """The event and its deliveries, one per endpoint it was sent to."""
    async with db.transaction() as conn:
        event = await repository.get_event(conn, merchant_id, event_id)
        if event is None:
            raise EventNotFound()
        return event, await repository.list_deliveries_of_event(conn, event.id)


async def resend_event(
    db: Database, merchant_id: UUID, event_id: str, endpoint_id: str | None = None
) -> list[Delivery]:
    """Send an event again from attempt 1, delivered before or not: to one endpoint (enabled,
    with a URL; its filter aside), or to every enabled endpoint whose filter takes it."""
    async with db.transaction() as conn:
        event = await repository.get_event(conn, merchant_id, event_id)
        if event is None:
            raise EventNotFound()
        if endpoint_id is None:
            receiving = await repository.receiving_endpoints(conn, merchant_id)
            targets = [e.id for e in receiving if e.receives(event.type)]
        else:
            endpoint = await repository.lock_endpoint(conn, merchant_id, endpoint_id)
            if endpoint is None:
                raise EndpointNotFound()
            if not endpoint.enabled or endpoint.url is None:
                raise EndpointUnusable()
            targets = [endpoint.id]
        return await repository.resend_event(conn, event, targets)


async def replay_failed(
    db: Database, merchant_id: UUID, window: Window, endpoint_id: str | None = None
) -> int:
    """Every failed delivery created in `window` (of one endpoint, or of every enabled one)
    back to pending from attempt 1; how many."""
    async with db.transaction() as conn:
        if endpoint_id is not None:
            endpoint = await repository.get_endpoint(conn, merchant_id, endpoint_id)
            if endpoint is None:
                raise EndpointNotFound()
            if not endpoint.enabled:
                raise EndpointUnusable()
        return await repository.replay_failed(conn, merchant_id, window, endpoint_id)


async def prune_events(db: Database, keep: timedelta) -> int:
    """Delete events received more than `keep` ago, with their deliveries and attempts, in
    batches (each its own transaction); how many events."""
    before = datetime.now(UTC) - keep
    pruned = 0
    for _ in range(PRUNE_MAX_BATCHES):
        async with db.transaction() as conn:
            deleted = await repository.prune_events(conn, before, PRUNE_BATCH)
        pruned += deleted
        if deleted < PRUNE_BATCH:
            break
    if pruned:
        log.info("events pruned", extra={"count": pruned, "received_before": before.isoformat()})
    return pruned
