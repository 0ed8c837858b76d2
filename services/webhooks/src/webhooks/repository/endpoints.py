"""SQL for endpoints: the default one and the others, health, replays."""

from datetime import datetime
from uuid import UUID

import asyncpg

from webhooks.domain import (
    MERCHANT_EVENTS,
    SEQUENCE,
    Endpoint,
    EndpointChange,
    EndpointId,
)
from webhooks.repository.rows import ENDPOINT_ROW, endpoint_of


async def get_default_endpoint(conn: asyncpg.Connection, merchant_id: UUID) -> Endpoint | None:
    row = await conn.fetchrow(
        f"SELECT {ENDPOINT_ROW} FROM endpoint WHERE merchant_id = $1 AND is_default",
        merchant_id,
    )
    return None if row is None else endpoint_of(row)


async def insert_default_endpoint(
    conn: asyncpg.Connection, merchant_id: UUID, endpoint_id: EndpointId, secret: str
) -> Endpoint:
    """Create the default endpoint unless another request just did; return the stored one."""
    await conn.execute(
        "INSERT INTO endpoint (id, merchant_id, secret, is_default) VALUES ($1, $2, $3, true)"
        " ON CONFLICT DO NOTHING",
        endpoint_id, merchant_id, secret,
    )  # fmt: skip
    endpoint = await get_default_endpoint(conn, merchant_id)
    if endpoint is None:
        raise LookupError(f"default endpoint of {merchant_id} vanished")
    return endpoint


async def lock_default_endpoint(conn: asyncpg.Connection, merchant_id: UUID) -> Endpoint | None:
    row = await conn.fetchrow(
        f"SELECT {ENDPOINT_ROW} FROM endpoint WHERE merchant_id = $1 AND is_default FOR UPDATE",
        merchant_id,
    )
    return None if row is None else endpoint_of(row)


async def get_endpoint(
    conn: asyncpg.Connection, merchant_id: UUID, endpoint_id: str
) -> Endpoint | None:
    row = await conn.fetchrow(
        f"SELECT {ENDPOINT_ROW} FROM endpoint WHERE id = $1 AND merchant_id = $2",
        endpoint_id, merchant_id,
    )  # fmt: skip
    return None if row is None else endpoint_of(row)


async def lock_endpoint(
    conn: asyncpg.Connection, merchant_id: UUID, endpoint_id: str
) -> Endpoint | None:
    row = await conn.fetchrow(
        f"SELECT {ENDPOINT_ROW} FROM endpoint WHERE id = $1 AND merchant_id = $2 FOR UPDATE",
        endpoint_id, merchant_id,
    )  # fmt: skip
    return None if row is None else endpoint_of(row)


async def list_endpoints(conn: asyncpg.Connection, merchant_id: UUID) -> list[Endpoint]:
    """The default endpoint first, then the others oldest first."""
    rows = await conn.fetch(
        f"SELECT {ENDPOINT_ROW} FROM endpoint WHERE merchant_id = $1"
        " ORDER BY is_default DESC, created_at, id",
        merchant_id,
    )
    return [endpoint_of(r) for r in rows]


async def receiving_endpoints(conn: asyncpg.Connection, merchant_id: UUID) -> list[Endpoint]:
    """The merchant's enabled endpoints with a URL, share-locked: disabling one waits until the
    deliveries this transaction creates for it are committed (and then fails them)."""
    rows = await conn.fetch(
        f"SELECT {ENDPOINT_ROW} FROM endpoint WHERE merchant_id = $1 AND enabled"
        " AND url IS NOT NULL ORDER BY is_default DESC, created_at, id FOR SHARE",
        merchant_id,
    )
    return [endpoint_of(r) for r in rows]


async def insert_endpoint(conn: asyncpg.Connection, endpoint: Endpoint) -> Endpoint:
    row = await conn.fetchrow(
        "INSERT INTO endpoint (id, merchant_id, url, secret, description, event_types, enabled)"
        f" VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {ENDPOINT_ROW}",
        endpoint.id, endpoint.merchant_id, endpoint.url, endpoint.secret, endpoint.description,
        list(endpoint.event_types), endpoint.enabled,
    )  # fmt: skip
    return endpoint_of(row)  # type: ignore[arg-type]


async def update_endpoint(conn: asyncpg.Connection, endpoint: Endpoint) -> Endpoint:
    row = await conn.fetchrow(
        "UPDATE endpoint SET url = $2, secret = $3, description = $4, event_types = $5,"
        " enabled = $6, previous_secret = $7, previous_secret_expires_at = $8,"
        " failing_since = $9, disabled_at = $10, disabled_reason = $11, updated_at = now()"
        f" WHERE id = $1 RETURNING {ENDPOINT_ROW}",
        endpoint.id, endpoint.url, endpoint.secret, endpoint.description,
        list(endpoint.event_types), endpoint.enabled, endpoint.previous_secret,
        endpoint.previous_secret_expires_at, endpoint.failing_since, endpoint.disabled_at,
        endpoint.disabled_reason,
    )  # fmt: skip
    return endpoint_of(row)  # type: ignore[arg-type]


async def record_change(
    conn: asyncpg.Connection, merchant_id: UUID, change: EndpointChange
) -> None:
    await conn.execute(
        "INSERT INTO endpoint_change"
        " (merchant_id, endpoint_id, change, url, previous_url, credential)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        merchant_id, change.endpoint_id, change.change, change.url, change.previous_url,
        change.credential,
    )  # fmt: skip


async def list_changes(
    conn: asyncpg.Connection, merchant_id: UUID, limit: int
) -> list[EndpointChange]:
    """The merchant's latest endpoint changes, newest first."""
    rows = await conn.fetch(
        "SELECT id, endpoint_id, change, url, previous_url, credential, changed_at"
        " FROM endpoint_change WHERE merchant_id = $1 ORDER BY id DESC LIMIT $2",
        merchant_id, limit,
    )  # fmt: skip
    return [EndpointChange(**dict(r)) for r in rows]


async def delete_endpoint(conn: asyncpg.Connection, endpoint_id: EndpointId) -> None:
    await conn.execute("DELETE FROM endpoint WHERE id = $1", endpoint_id)


async def lock_endpoint_by_id(conn: asyncpg.Connection, endpoint_id: str) -> Endpoint | None:
    row = await conn.fetchrow(
        f"SELECT {ENDPOINT_ROW} FROM endpoint WHERE id = $1 FOR UPDATE", endpoint_id
    )
    return None if row is None else endpoint_of(row)


async def mark_failing(
    conn: asyncpg.Connection, endpoint_id: EndpointId, at: datetime
) -> datetime | None:
    """Since when the endpoint has been failing (`at` if this is its first failure). The row is
    written only on a first failure, so concurrent attempts seldom wait on each other."""
    since: datetime | None = await conn.fetchval(
        """
        WITH first AS (
            UPDATE endpoint SET failing_since = $2 WHERE id = $1 AND failing_since IS NULL
            RETURNING failing_since
        )
        SELECT coalesce((SELECT failing_since FROM first),
                        (SELECT failing_since FROM endpoint WHERE id = $1))
        """,
        endpoint_id, at,
    )  # fmt: skip
    return since


async def mark_healthy(conn: asyncpg.Connection, endpoint_ids: list[EndpointId]) -> None:
    """End the failing streak of each endpoint (written only where one was failing)."""
    await conn.execute(
        "UPDATE endpoint SET failing_since = NULL WHERE id = ANY($1::text[])"
        " AND failing_since IS NOT NULL",
        endpoint_ids,
    )


async def replay_missed(conn: asyncpg.Connection, endpoint: Endpoint, since: datetime) -> int:
    """Deliver again to `endpoint` what it missed since `since`: every event it takes received
    since then, and every event whose delivery to it failed since then (or was stopped before
    an attempt). Deliveries it lacks are created; failed ones go back to pending from attempt
    1; delivered and pending ones are left alone. The filter is `Endpoint.receives`, in SQL."""
    result = await conn.execute(
        """
        INSERT INTO delivery (merchant_id, endpoint_id, event_id, event, payment_id, refund_id,
                              object_id, sequence, next_retry_at)
        SELECT e.merchant_id, $1, e.id, e.type, e.payment_id, e.refund_id, e.object_id,
               (SELECT q.n FROM unnest($5::text[], $6::int[]) AS q(t, n) WHERE q.t = e.type),
               clock_timestamp()
        FROM event e
        WHERE e.merchant_id = $2 AND e.type = ANY($4::text[])
          AND (e.received_at >= $3 OR EXISTS (
                SELECT 1 FROM delivery d
                WHERE d.event_id = e.id AND d.endpoint_id = $1 AND d.status = 'failed'
                  AND (d.last_attempt_at IS NULL OR d.last_attempt_at >= $3)))
        ORDER BY e.received_at, e.id
        ON CONFLICT (event_id, endpoint_id) DO UPDATE
            SET status = 'pending', attempts = 0, next_retry_at = clock_timestamp()
            WHERE delivery.status = 'failed'
        """,
        endpoint.id, endpoint.merchant_id, since,
        sorted(endpoint.event_types or MERCHANT_EVENTS), list(SEQUENCE), list(SEQUENCE.values()),
    )  # fmt: skip
    return int(result.split()[-1])


async def stop_pending_deliveries(conn: asyncpg.Connection, endpoint_id: EndpointId) -> int:
    """Pending deliveries of an endpoint that stops receiving are failed (each keeps its last
    attempt's outcome); a manual retry or a replay sends them again."""
    result = await conn.execute(
        "UPDATE delivery SET status = 'failed', next_retry_at = NULL"
        " WHERE endpoint_id = $1 AND status = 'pending'",
        endpoint_id,
    )
    return int(result.split()[-1])
