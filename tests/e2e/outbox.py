"""What a service's outbox and a stream hold about one resource, whichever shape its messages
have: one event, or the events one transaction wrote for one consumer (`{"events": [...]}`)."""

from typing import Any

import asyncpg

# Each event an outbox row carries, one row per event.
_EVENTS = (
    "jsonb_array_elements(CASE WHEN payload ? 'events' THEN payload -> 'events'"
    " ELSE jsonb_build_array(payload) END)"
)


async def count_events(database_url: str, event_type: str, resource_id: str) -> int:
    """How many times the outbox queued an event of `event_type` about `resource_id` (once
    per consumer it goes to)."""
    conn = await asyncpg.connect(database_url)
    try:
        count = await conn.fetchval(
            f"SELECT count(*) FROM outbox, {_EVENTS} AS e"
            " WHERE e->>'type' = $1 AND e->'data'->>'id' = $2",
            event_type, resource_id,
        )  # fmt: skip
    finally:
        await conn.close()
    return int(count)


def carried(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The events a published task's payload carries."""
    events: list[dict[str, Any]] = payload.get("events", [payload])
    return events
