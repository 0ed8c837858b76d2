"""SQL for endpoints, events and deliveries; rows in, domain objects out."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from webhooks.domain import (
    MAX_ATTEMPTS,
    MERCHANT_EVENTS,
    Attempt,
    Delivery,
    DeliveryId,
    DeliveryStatus,
    Endpoint,
    EndpointId,
    EventLinks,
)

_DELIVERY = (
    "id, merchant_id, endpoint_id, event_id, event, payment_id, refund_id, status, attempts,"
    " last_attempt_at, next_retry_at, response_code, response_body, created_at"
)
_ENDPOINT = (
    "id, merchant_id, url, secret, is_default, description, event_types, enabled, created_at,"
    " updated_at, previous_secret, previous_secret_expires_at, failing_since, disabled_at,"
    " disabled_reason"
)


@dataclass(frozen=True)
class Claimed:
    """A delivery leased for one attempt, with what the attempt needs (no URL or secret once
    its endpoint was deleted)."""

    id: DeliveryId
    merchant_id: UUID
    endpoint_id: EndpointId | None
    event_id: str
    attempts: int
    body: str
    url: str | None
    secret: str | None
    previous_secret: str | None
    previous_secret_expires_at: datetime | None


def _delivery(row: asyncpg.Record) -> Delivery:
    values = dict(row)
    values["status"] = DeliveryStatus(values["status"])
    return Delivery(**values)


def _endpoint(row: asyncpg.Record) -> Endpoint:
    values = dict(row)
    values["event_types"] = tuple(values["event_types"])
    return Endpoint(**values)


async def get_default_endpoint(conn: asyncpg.Connection, merchant_id: UUID) -> Endpoint | None:
    row = await conn.fetchrow(
        f"SELECT {_ENDPOINT} FROM endpoint WHERE merchant_id = $1 AND is_default", merchant_id
    )
    return None if row is None else _endpoint(row)


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
        f"SELECT {_ENDPOINT} FROM endpoint WHERE merchant_id = $1 AND is_default FOR UPDATE",
        merchant_id,
    )
    return None if row is None else _endpoint(row)


async def get_endpoint(
    conn: asyncpg.Connection, merchant_id: UUID, endpoint_id: str
) -> Endpoint | None:
    row = await conn.fetchrow(
        f"SELECT {_ENDPOINT} FROM endpoint WHERE id = $1 AND merchant_id = $2",
        endpoint_id, merchant_id,
    )  # fmt: skip
    return None if row is None else _endpoint(row)


async def lock_endpoint(
    conn: asyncpg.Connection, merchant_id: UUID, endpoint_id: str
) -> Endpoint | None:
    row = await conn.fetchrow(
        f"SELECT {_ENDPOINT} FROM endpoint WHERE id = $1 AND merchant_id = $2 FOR UPDATE",
        endpoint_id, merchant_id,
    )  # fmt: skip
    return None if row is None else _endpoint(row)


async def list_endpoints(conn: asyncpg.Connection, merchant_id: UUID) -> list[Endpoint]:
    """The default endpoint first, then the others oldest first."""
    rows = await conn.fetch(
        f"SELECT {_ENDPOINT} FROM endpoint WHERE merchant_id = $1"
        " ORDER BY is_default DESC, created_at, id",
        merchant_id,
    )
    return [_endpoint(r) for r in rows]


async def receiving_endpoints(conn: asyncpg.Connection, merchant_id: UUID) -> list[Endpoint]:
    """The merchant's enabled endpoints with a URL, share-locked: disabling one waits until the
    deliveries this transaction creates for it are committed (and then fails them)."""
    rows = await conn.fetch(
        f"SELECT {_ENDPOINT} FROM endpoint WHERE merchant_id = $1 AND enabled"
        " AND url IS NOT NULL ORDER BY is_default DESC, created_at, id FOR SHARE",
        merchant_id,
    )
    return [_endpoint(r) for r in rows]


async def insert_endpoint(conn: asyncpg.Connection, endpoint: Endpoint) -> Endpoint:
    row = await conn.fetchrow(
        "INSERT INTO endpoint (id, merchant_id, url, secret, description, event_types, enabled)"
        f" VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_ENDPOINT}",
        endpoint.id, endpoint.merchant_id, endpoint.url, endpoint.secret, endpoint.description,
        list(endpoint.event_types), endpoint.enabled,
    )  # fmt: skip
    return _endpoint(row)  # type: ignore[arg-type]


async def update_endpoint(conn: asyncpg.Connection, endpoint: Endpoint) -> Endpoint:
    row = await conn.fetchrow(
        "UPDATE endpoint SET url = $2, secret = $3, description = $4, event_types = $5,"
        " enabled = $6, previous_secret = $7, previous_secret_expires_at = $8,"
        " failing_since = $9, disabled_at = $10, disabled_reason = $11, updated_at = now()"
        f" WHERE id = $1 RETURNING {_ENDPOINT}",
        endpoint.id, endpoint.url, endpoint.secret, endpoint.description,
        list(endpoint.event_types), endpoint.enabled, endpoint.previous_secret,
        endpoint.previous_secret_expires_at, endpoint.failing_since, endpoint.disabled_at,
        endpoint.disabled_reason,
    )  # fmt: skip
    return _endpoint(row)  # type: ignore[arg-type]


async def delete_endpoint(conn: asyncpg.Connection, endpoint_id: EndpointId) -> None:
    await conn.execute("DELETE FROM endpoint WHERE id = $1", endpoint_id)


async def lock_endpoint_by_id(conn: asyncpg.Connection, endpoint_id: str) -> Endpoint | None:
    row = await conn.fetchrow(
        f"SELECT {_ENDPOINT} FROM endpoint WHERE id = $1 FOR UPDATE", endpoint_id
    )
    return None if row is None else _endpoint(row)


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


async def mark_healthy(conn: asyncpg.Connection, endpoint_id: EndpointId) -> None:
    await conn.execute(
        "UPDATE endpoint SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL",
        endpoint_id,
    )


async def replay_missed(conn: asyncpg.Connection, endpoint: Endpoint, since: datetime) -> int:
    """Deliver again to `endpoint` what it missed since `since`: every event it takes received
    since then, and every event whose delivery to it failed since then (or was stopped before
    an attempt). Deliveries it lacks are created; failed ones go back to pending from attempt
    1; delivered and pending ones are left alone. The filter is `Endpoint.receives`, in SQL."""
    result = await conn.execute(
        """
        INSERT INTO delivery (merchant_id, endpoint_id, event_id, event, payment_id, refund_id,
                              next_retry_at)
        SELECT e.merchant_id, $1, e.id, e.type, e.payment_id, e.refund_id, clock_timestamp()
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
        sorted(endpoint.event_types or MERCHANT_EVENTS),
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


async def insert_delivery(
    conn: asyncpg.Connection,
    merchant_id: UUID,
    endpoint_id: EndpointId,
    event_id: str,
    event_type: str,
    payment_id: str | None,
    refund_id: str | None,
) -> Delivery:
    row = await conn.fetchrow(
        "INSERT INTO delivery (merchant_id, endpoint_id, event_id, event, payment_id, refund_id,"
        f" next_retry_at) VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp()) RETURNING {_DELIVERY}",
        merchant_id, endpoint_id, event_id, event_type, payment_id, refund_id,
    )  # fmt: skip
    return _delivery(row)  # type: ignore[arg-type]


async def claim_due(
    conn: asyncpg.Connection,
    busy: list[UUID],
    per_merchant: int,
    limit: int,
    lease_seconds: float,
    only: DeliveryId | None = None,
) -> list[Claimed]:
    """Lease due deliveries: at most `per_merchant` each, none for `busy` merchants.

    The lease moves `next_retry_at` forward, so a worker that dies mid-attempt only delays it.
    The attempt is counted when it is claimed: one whose outcome was never recorded (a crash,
    the database gone) still uses up an attempt, so nothing is resent forever. `attempts` in
    the result is the count before this attempt.
    """
    rows = await conn.fetch(
        """
        WITH due AS (
            SELECT id, row_number() OVER (PARTITION BY merchant_id ORDER BY next_retry_at, id) AS rn
            FROM delivery
            WHERE status = 'pending' AND next_retry_at <= clock_timestamp() AND attempts < $6
              AND NOT (merchant_id = ANY($1::uuid[])) AND ($5::uuid IS NULL OR id = $5)
        ), picked AS (
            SELECT d.id, d.endpoint_id FROM delivery d JOIN due USING (id) WHERE due.rn <= $2
            ORDER BY d.next_retry_at LIMIT $3 FOR UPDATE OF d SKIP LOCKED
        )
        UPDATE delivery d SET next_retry_at = clock_timestamp() + make_interval(secs => $4),
            attempts = d.attempts + 1
        FROM picked LEFT JOIN endpoint p ON p.id = picked.endpoint_id, event e
        WHERE d.id = picked.id AND e.id = d.event_id
        RETURNING d.id, d.merchant_id, d.endpoint_id, d.event_id, d.attempts - 1, e.body, p.url,
            p.secret, p.previous_secret, p.previous_secret_expires_at
        """,
        busy, per_merchant, limit, lease_seconds, only, MAX_ATTEMPTS,
    )  # fmt: skip
    return [Claimed(*row) for row in rows]


async def fail_abandoned(conn: asyncpg.Connection) -> int:
    """Deliveries whose last allowed attempt was claimed but never recorded, lease expired."""
    result = await conn.execute(
        "UPDATE delivery SET status = 'failed', next_retry_at = NULL WHERE status = 'pending'"
        " AND attempts >= $1 AND next_retry_at <= clock_timestamp()",
        MAX_ATTEMPTS,
    )
    return int(result.split()[-1])


async def record_attempt(
    conn: asyncpg.Connection,
    claimed: Claimed,
    attempt: Attempt,
    at: datetime,
    status: DeliveryStatus,
    attempts: int,
    next_retry_at: datetime | None,
) -> Delivery | None:
    """Store the attempt unless someone else recorded one since the claim (stale lease)."""
    row = await conn.fetchrow(
        "UPDATE delivery SET status = $3, attempts = $4, last_attempt_at = $5, next_retry_at = $6,"
        " response_code = $7, response_body = $8"
        f" WHERE id = $1 AND attempts = $2 + 1 AND status = 'pending' RETURNING {_DELIVERY}",
        claimed.id, claimed.attempts, status.value, attempts, at, next_retry_at,
        attempt.response_code, attempt.response_body if attempt.response_code else attempt.error,
    )  # fmt: skip
    if row is None:
        return None
    await conn.execute(
        "INSERT INTO delivery_attempt (delivery_id, attempt, attempted_at, url, response_code,"
        " response_body, error, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        claimed.id, attempts, at, claimed.url, attempt.response_code, attempt.response_body,
        attempt.error, attempt.duration_ms,
    )  # fmt: skip
    return _delivery(row)


async def get_delivery(conn: asyncpg.Connection, delivery_id: UUID) -> Delivery | None:
    row = await conn.fetchrow(f"SELECT {_DELIVERY} FROM delivery WHERE id = $1", delivery_id)
    return None if row is None else _delivery(row)


async def list_deliveries(
    conn: asyncpg.Connection,
    merchant_id: UUID,
    limit: int,
    offset: int,
    payment_id: str | None,
    endpoint_id: str | None,
) -> tuple[list[Delivery], int]:
    where = (
        "merchant_id = $1 AND ($2::text IS NULL OR payment_id = $2)"
        " AND ($3::text IS NULL OR endpoint_id = $3)"
    )
    rows = await conn.fetch(
        f"SELECT {_DELIVERY} FROM delivery WHERE {where}"
        " ORDER BY created_at DESC, id LIMIT $4 OFFSET $5",
        merchant_id, payment_id, endpoint_id, limit, offset,
    )  # fmt: skip
    total = await conn.fetchval(
        f"SELECT count(*) FROM delivery WHERE {where}", merchant_id, payment_id, endpoint_id
    )
    return [_delivery(r) for r in rows], int(total)


async def list_attempts(conn: asyncpg.Connection, delivery_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT attempt, attempted_at, url, response_code, response_body, error, duration_ms"
        " FROM delivery_attempt WHERE delivery_id = $1 ORDER BY attempt, id",
        delivery_id,
    )


async def get_event_body(conn: asyncpg.Connection, event_id: str) -> str | None:
    body: str | None = await conn.fetchval("SELECT body FROM event WHERE id = $1", event_id)
    return body


async def reset_delivery(conn: asyncpg.Connection, delivery_id: UUID) -> Delivery | None:
    row = await conn.fetchrow(
        "UPDATE delivery SET status = 'pending', attempts = 0, next_retry_at = clock_timestamp()"
        f" WHERE id = $1 RETURNING {_DELIVERY}",
        delivery_id,
    )
    return None if row is None else _delivery(row)


async def count_due(conn: asyncpg.Connection) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM delivery WHERE status = 'pending' AND next_retry_at <= now()"
        )
    )
