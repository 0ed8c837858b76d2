"""SQL for stored events."""

from datetime import datetime
from uuid import UUID

import asyncpg

from kit.paging import Listed, Page, fetch_page
from webhooks.domain import Event, EventLinks, Window


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


_EVENT_ROW = "id, merchant_id, type, object_id, payment_id, refund_id, body, received_at"


async def get_event(conn: asyncpg.Connection, merchant_id: UUID, event_id: str) -> Event | None:
    row = await conn.fetchrow(
        f"SELECT {_EVENT_ROW} FROM event WHERE id = $1 AND merchant_id = $2", event_id, merchant_id
    )
    return None if row is None else Event(**dict(row))


async def list_events(
    conn: asyncpg.Connection,
    merchant_id: UUID,
    event_type: str | None,
    object_id: str | None,
    window: Window,
    page: Page,
) -> Listed[Event]:
    """Newest first."""
    paged = await fetch_page(
        conn, select=f"SELECT {_EVENT_ROW} FROM event", page=page, created="received_at",
        owner="merchant_id = $1", owner_args=[merchant_id],
        filters="($2::text IS NULL OR type = $2) AND ($3::text IS NULL OR object_id = $3)"
        " AND ($4::timestamptz IS NULL OR received_at >= $4)"
        " AND ($5::timestamptz IS NULL OR received_at < $5)",
        filter_args=[event_type, object_id, window.start, window.end],
    )  # fmt: skip
    return paged.map(lambda row: Event(**dict(row)))


async def prune_events(conn: asyncpg.Connection, before: datetime, batch: int) -> int:
    """Delete up to `batch` events received before `before`, with their deliveries and
    attempts (one statement: the foreign keys are checked at its end)."""
    result = await conn.execute(
        """
        WITH old AS (
            SELECT id FROM event WHERE received_at < $1 ORDER BY received_at LIMIT $2
            FOR UPDATE SKIP LOCKED
        ), old_delivery AS (
            SELECT d.id FROM delivery d JOIN old ON d.event_id = old.id
        ), attempts AS (
            DELETE FROM delivery_attempt a USING old_delivery WHERE a.delivery_id = old_delivery.id
        ), deliveries AS (
            DELETE FROM delivery d USING old_delivery WHERE d.id = old_delivery.id
        )
        DELETE FROM event e USING old WHERE e.id = old.id
        """,
        before, batch,
    )  # fmt: skip
    return int(result.split()[-1])


async def events_received_since(
    conn: asyncpg.Connection, merchant_id: UUID, since: datetime, limit: int
) -> list[asyncpg.Record]:
    """The merchant's events received after `since`, oldest first (for `listen`)."""
    return await conn.fetch(
        "SELECT id, type, body, received_at FROM event WHERE merchant_id = $1"
        " AND received_at > $2 ORDER BY received_at, id LIMIT $3",
        merchant_id, since, limit,
    )  # fmt: skip


async def event_received_at(
    conn: asyncpg.Connection, merchant_id: UUID, event_id: str
) -> datetime | None:
    received: datetime | None = await conn.fetchval(
        "SELECT received_at FROM event WHERE merchant_id = $1 AND id = $2", merchant_id, event_id
    )
    return received
