"""SQL for stored events."""

from uuid import UUID

import asyncpg

from webhooks.domain import (
    EventLinks,
)


async def insert_event(
    conn: asyncpg.Connection,
    event_id: str,
    merchant_id: UUID,
    event_type: str,
    body: str,
    links: EventLinks,
) -> bool:
    """False if the event was stored before."""
    inserted = await conn.fetchval(
        "INSERT INTO event (id, merchant_id, type, body, object_id, payment_id, refund_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING true",
        event_id, merchant_id, event_type, body, links.object_id, links.payment_id,
        links.refund_id,
    )  # fmt: skip
    return bool(inserted)


async def get_event_body(conn: asyncpg.Connection, event_id: str) -> str | None:
    body: str | None = await conn.fetchval("SELECT body FROM event WHERE id = $1", event_id)
    return body
