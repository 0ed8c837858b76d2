"""SQL for deliveries and their attempts: intake, claims, outcomes, logs."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from kit.paging import Listed, Page, fetch_page
from webhooks.domain import (
    MAX_ATTEMPTS,
    PAYMENT_SETTLED,
    SEQUENCE,
    Attempt,
    Delivery,
    DeliveryFilter,
    DeliveryId,
    DeliveryStatus,
    EndpointId,
    Event,
    EventLinks,
    Window,
)
from webhooks.repository.rows import DELIVERY_ROW, delivery_of

# Due deliveries a claim looks at, in due order: twice what one claim takes at most (the
# dispatcher's free slots, 128 by default), so a merchant's cap leaves room for others in the
# same claim; a merchant at its cap is skipped by the next claim's scan.
CLAIM_LOOKAHEAD = 256


@dataclass(frozen=True)
class Claimed:
    """A delivery leased for one attempt, with what the attempt needs (no URL or secret once
    its endpoint was deleted)."""

    id: DeliveryId
    merchant_id: UUID
    endpoint_id: EndpointId | None
    event_id: str
    attempts: int
    sequence: int | None
    body: str
    url: str | None
    secret: str | None
    previous_secret: str | None
    previous_secret_expires_at: datetime | None


async def insert_delivery(
    conn: asyncpg.Connection,
    merchant_id: UUID,
    endpoint_id: EndpointId,
    event_id: str,
    event_type: str,
    links: EventLinks,
) -> Delivery:
    row = await conn.fetchrow(
        "INSERT INTO delivery (merchant_id, endpoint_id, event_id, event, payment_id, refund_id,"
        " object_id, sequence, next_retry_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, clock_timestamp())"
        f" RETURNING {DELIVERY_ROW}",
        merchant_id, endpoint_id, event_id, event_type, links.payment_id, links.refund_id,
        links.object_id, links.sequence,
    )  # fmt: skip
    return delivery_of(row)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Incoming:
    """A merchant-facing event to keep, with the body every delivery of it sends."""

    event_id: str
    merchant_id: UUID
    event_type: str
    body: str
    links: EventLinks


async def take_in(conn: asyncpg.Connection, incoming: list[Incoming]) -> list[Delivery]:
    """Keep each event once and queue a delivery to each of its merchant's enabled endpoints
    with a URL whose filter takes it (`Endpoint.receives`, in SQL), for the events that arrived
    together in one statement; none for an event kept before. Deliveries are made in the
    events' order. The endpoints are share-locked: disabling one waits until these deliveries
    are committed (and then fails them)."""
    if not incoming:
        return []
    rows = await conn.fetch(
        """
        WITH incoming AS (
            SELECT DISTINCT ON (i.id) i.*
            FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
                        $7::text[], $8::int[])
                 WITH ORDINALITY AS i(id, merchant_id, type, body, object_id, payment_id,
                                      refund_id, sequence, n)
            ORDER BY i.id, i.n
        ), kept AS (
            INSERT INTO event (id, merchant_id, type, body, object_id, payment_id, refund_id)
            SELECT id, merchant_id, type, body, object_id, payment_id, refund_id
            FROM incoming ORDER BY n
            ON CONFLICT DO NOTHING RETURNING id
        ), targets AS (
            SELECT i.*, p.id AS endpoint_id, p.is_default, p.created_at AS endpoint_created
            FROM incoming i JOIN kept k ON k.id = i.id
            JOIN endpoint p ON p.merchant_id = i.merchant_id AND p.enabled AND p.url IS NOT NULL
              AND (cardinality(p.event_types) = 0 OR i.type = ANY(p.event_types))
            FOR SHARE OF p
        ), heads AS (  -- the first event of each object arriving, per endpoint
            SELECT endpoint_id, object_id, min(sequence) AS first FROM targets
            GROUP BY endpoint_id, object_id
        )
        INSERT INTO delivery (merchant_id, endpoint_id, event_id, event, payment_id, refund_id,
                              object_id, sequence, next_retry_at)
        SELECT t.merchant_id, t.endpoint_id, t.id, t.type, t.payment_id, t.refund_id,
               t.object_id, t.sequence,
               CASE WHEN t.sequence > h.first  -- held: an earlier event of its object is
                                               -- pending there, arriving with it or before
                      OR (SELECT 1 FROM delivery x
                          WHERE x.endpoint_id = t.endpoint_id AND x.status = 'pending'
                            AND x.object_id = t.object_id AND x.sequence < t.sequence
                          LIMIT 1) IS NOT NULL
                      OR t.object_id <> t.payment_id AND (  -- a refund's: its payment's outcome
                         EXISTS (SELECT FROM heads p
                                 WHERE p.endpoint_id = t.endpoint_id
                                   AND p.object_id = t.payment_id AND p.first <= $9)
                         OR (SELECT 1 FROM delivery x
                             WHERE x.endpoint_id = t.endpoint_id AND x.status = 'pending'
                               AND x.object_id = t.payment_id AND x.sequence <= $9
                             LIMIT 1) IS NOT NULL)
                    THEN NULL ELSE clock_timestamp() END
        FROM targets t LEFT JOIN heads h
            ON h.endpoint_id = t.endpoint_id AND h.object_id = t.object_id
        ORDER BY t.n, t.is_default DESC, t.endpoint_created, t.endpoint_id
        """
        f" RETURNING {DELIVERY_ROW}",
        [i.event_id for i in incoming], [i.merchant_id for i in incoming],
        [i.event_type for i in incoming], [i.body for i in incoming],
        [i.links.object_id for i in incoming], [i.links.payment_id for i in incoming],
        [i.links.refund_id for i in incoming], [i.links.sequence for i in incoming],
        PAYMENT_SETTLED,
    )  # fmt: skip
    return [delivery_of(r) for r in rows]


async def release_held(
    conn: asyncpg.Connection, ended: list[tuple[EndpointId, str]] | None = None
) -> int:
    """Make held deliveries due once no earlier event of their object (a refund's: its
    payment's outcome) is pending to the same endpoint any more: those of the payments in
    `ended` (endpoint, payment id: a delivery of theirs just ended), or every held one (the
    chore that repairs a release missed because an intake and an ending committed at once)."""
    candidates = "h.status = 'pending' AND h.next_retry_at IS NULL" + (
        ""
        if ended is None
        else " AND (h.endpoint_id, h.payment_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))"
    )
    result = await conn.execute(
        f"""
        UPDATE delivery h SET next_retry_at = clock_timestamp()
        WHERE {candidates}
          AND (SELECT 1 FROM delivery x  -- probes, one per held row (not a join over
                                         -- every pending delivery)
               WHERE x.endpoint_id = h.endpoint_id AND x.status = 'pending'
                 AND x.object_id = h.object_id AND x.sequence < h.sequence LIMIT 1) IS NULL
          AND (h.object_id = h.payment_id OR (
               SELECT 1 FROM delivery x  -- a refund's: its payment's outcome
               WHERE x.endpoint_id = h.endpoint_id AND x.status = 'pending'
                 AND x.object_id = h.payment_id AND x.sequence <= $1 LIMIT 1) IS NULL)
        """,
        PAYMENT_SETTLED,
        *([] if ended is None else [[e for e, _ in ended], [p for _, p in ended]]),
    )  # fmt: skip
    return int(result.split()[-1])


async def claim_due(
    conn: asyncpg.Connection,
    busy: list[UUID],
    per_merchant: int,
    limit: int,
    lease_seconds: float,
    only: DeliveryId | None = None,
) -> list[Claimed]:
    """Lease due deliveries: at most `per_merchant` each, none for `busy` merchants, and none
    while an earlier event of its object is still pending to the same endpoint (a refund's:
    while its payment's outcome is), so one object's webhooks go out in order (ADR 0011).

    The lease moves `next_retry_at` forward, so a worker that dies mid-attempt only delays it.
    The attempt is counted when it is claimed: one whose outcome was never recorded (a crash,
    the database gone) still uses up an attempt, so nothing is resent forever. `attempts` in
    the result is the count before this attempt.
    """
    rows = await conn.fetch(
        f"""
        WITH due AS (  -- the first due deliveries in the order of the due index, each checked
                       -- by index probes; the scan stops at the look-ahead (bounded work per
                       -- claim, however large the backlog: no anti join over every pending row)
            SELECT o.id, o.merchant_id, o.next_retry_at FROM delivery o
            WHERE o.status = 'pending' AND o.next_retry_at <= statement_timestamp()
              AND o.attempts < $6 AND o.merchant_id <> ALL($1::uuid[])
              AND ($5::uuid IS NULL OR o.id = $5)
              AND (SELECT 1 FROM delivery x  -- an earlier event of this object pending here
                   WHERE x.endpoint_id = o.endpoint_id AND x.object_id = o.object_id
                     AND x.status = 'pending' AND x.sequence < o.sequence LIMIT 1) IS NULL
              AND (o.object_id IS NULL OR o.payment_id IS NULL OR o.object_id = o.payment_id
                   OR (SELECT 1 FROM delivery x  -- a refund's: its payment's outcome pending
                       WHERE x.endpoint_id = o.endpoint_id AND x.object_id = o.payment_id
                         AND x.status = 'pending' AND x.sequence <= $7 LIMIT 1) IS NULL)
            ORDER BY o.next_retry_at LIMIT {CLAIM_LOOKAHEAD}
        ), fair AS (  -- at most `per_merchant` of each merchant, the earliest first
            SELECT id FROM (
                SELECT id, next_retry_at,
                       row_number() OVER (PARTITION BY merchant_id ORDER BY next_retry_at, id) AS rn
                FROM due) ranked
            WHERE rn <= $2 ORDER BY next_retry_at, id LIMIT $3
        ), picked AS (  -- the conditions again, for a row another claim took meanwhile
            SELECT d.id, d.endpoint_id, d.event_id FROM delivery d
            WHERE d.id = ANY (ARRAY(SELECT id FROM fair)) AND d.status = 'pending'
              AND d.next_retry_at <= statement_timestamp()
            FOR UPDATE OF d SKIP LOCKED
        )
        UPDATE delivery d SET next_retry_at = clock_timestamp() + make_interval(secs => $4),
            attempts = d.attempts + 1
        FROM picked LEFT JOIN endpoint p ON p.id = picked.endpoint_id
        JOIN event e ON e.id = picked.event_id
        WHERE d.id = picked.id
        RETURNING d.id, d.merchant_id, d.endpoint_id, d.event_id, d.attempts - 1, d.sequence,
            e.body, p.url, p.secret, p.previous_secret, p.previous_secret_expires_at
        """,
        busy, per_merchant, limit, lease_seconds, only, MAX_ATTEMPTS, PAYMENT_SETTLED,
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


@dataclass(frozen=True)
class Outcome:
    """One attempt of a claimed delivery and what it makes of the delivery."""

    claimed: Claimed
    attempt: Attempt
    at: datetime
    status: DeliveryStatus
    attempts: int
    next_retry_at: datetime | None


async def record_attempts(
    conn: asyncpg.Connection, outcomes: list[Outcome]
) -> list[Delivery | None]:
    """Add each attempt to its delivery's history (the POST happened, whatever came since) and
    store its outcome unless the delivery changed since the claim: a stale lease, or a manual
    retry or resend that restarted it (None then). One statement for the whole batch."""
    rows = await conn.fetch(
        """
        WITH u AS (
            SELECT * FROM unnest($1::uuid[], $2::int[], $3::int[], $4::timestamptz[], $5::text[],
                                 $6::int[], $7::text[], $8::text[], $9::int[], $10::text[],
                                 $11::timestamptz[], $12::text[])
                WITH ORDINALITY AS u(id, claimed, attempts, at, url, code, body, error, ms,
                                     status, next_retry_at, response, n)
        ), history AS (  -- (a delivery pruned meanwhile has no history left to add to)
            INSERT INTO delivery_attempt (delivery_id, attempt, attempted_at, url, response_code,
                                          response_body, error, duration_ms)
            SELECT d.id, u.attempts, u.at, u.url, u.code, u.body, u.error, u.ms
            FROM u JOIN delivery d ON d.id = u.id ORDER BY u.n
        )
        UPDATE delivery d SET status = u.status, attempts = u.attempts, last_attempt_at = u.at,
            next_retry_at = u.next_retry_at, response_code = u.code, response_body = u.response
        FROM u WHERE d.id = u.id AND d.attempts = u.claimed + 1 AND d.status = 'pending'
        """
        f" RETURNING u.n, {_qualified(DELIVERY_ROW, 'd')}",
        [o.claimed.id for o in outcomes], [o.claimed.attempts for o in outcomes],
        [o.attempts for o in outcomes], [o.at for o in outcomes],
        [o.claimed.url for o in outcomes], [o.attempt.response_code for o in outcomes],
        [o.attempt.response_body for o in outcomes], [o.attempt.error for o in outcomes],
        [o.attempt.duration_ms for o in outcomes], [o.status.value for o in outcomes],
        [o.next_retry_at for o in outcomes],
        [o.attempt.response_body if o.attempt.response_code else o.attempt.error
         for o in outcomes],
    )  # fmt: skip
    recorded: list[Delivery | None] = [None] * len(outcomes)
    for row in rows:
        values = dict(row)
        n = values.pop("n")
        recorded[n - 1] = delivery_of(values)
    return recorded


def _qualified(columns: str, table: str) -> str:
    return ", ".join(f"{table}.{c.strip()}" for c in columns.split(","))


async def get_delivery(conn: asyncpg.Connection, delivery_id: UUID) -> Delivery | None:
    row = await conn.fetchrow(f"SELECT {DELIVERY_ROW} FROM delivery WHERE id = $1", delivery_id)
    return None if row is None else delivery_of(row)


async def list_deliveries(
    conn: asyncpg.Connection, merchant_id: UUID, page: Page, only: DeliveryFilter
) -> Listed[Delivery]:
    paged = await fetch_page(
        conn, select=f"SELECT {DELIVERY_ROW} FROM delivery", page=page,
        owner="merchant_id = $1", owner_args=[merchant_id],
        filters="($2::text IS NULL OR payment_id = $2) AND ($3::text IS NULL OR endpoint_id = $3)"
        " AND ($4::text IS NULL OR status = $4) AND ($5::text IS NULL OR event = $5)",
        filter_args=[only.payment_id, only.endpoint_id,
                     only.status.value if only.status else None, only.event],
    )  # fmt: skip
    return paged.map(delivery_of)


async def list_attempts(conn: asyncpg.Connection, delivery_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT attempt, attempted_at, url, response_code, response_body, error, duration_ms"
        " FROM delivery_attempt WHERE delivery_id = $1 ORDER BY attempted_at, id",
        delivery_id,
    )


async def reset_delivery(conn: asyncpg.Connection, delivery_id: UUID) -> Delivery | None:
    row = await conn.fetchrow(
        "UPDATE delivery SET status = 'pending', attempts = 0, next_retry_at = clock_timestamp()"
        f" WHERE id = $1 RETURNING {DELIVERY_ROW}",
        delivery_id,
    )
    return None if row is None else delivery_of(row)


async def count_due(conn: asyncpg.Connection) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM delivery WHERE status = 'pending' AND next_retry_at <= now()"
        )
    )


async def list_deliveries_of_event(conn: asyncpg.Connection, event_id: str) -> list[Delivery]:
    rows = await conn.fetch(
        f"SELECT {DELIVERY_ROW} FROM delivery WHERE event_id = $1 ORDER BY created_at, id",
        event_id,
    )
    return [delivery_of(r) for r in rows]


async def resend_event(
    conn: asyncpg.Connection, event: Event, endpoint_ids: list[EndpointId]
) -> list[Delivery]:
    """Send `event` again to each endpoint from attempt 1, due now: its delivery there is
    reset, whatever its status, or created."""
    rows = await conn.fetch(
        """
        INSERT INTO delivery (merchant_id, endpoint_id, event_id, event, payment_id, refund_id,
                              object_id, sequence, next_retry_at)
        SELECT $1, endpoint_id, $2, $3, $4, $5, $7, $8, clock_timestamp()
        FROM unnest($6::text[]) AS targets (endpoint_id)
        ON CONFLICT (event_id, endpoint_id) DO UPDATE
            SET status = 'pending', attempts = 0, next_retry_at = clock_timestamp()
        """
        f" RETURNING {DELIVERY_ROW}",
        event.merchant_id, event.id, event.type, event.payment_id, event.refund_id, endpoint_ids,
        event.object_id, SEQUENCE.get(event.type),
    )  # fmt: skip
    return [delivery_of(r) for r in rows]


async def replay_failed(
    conn: asyncpg.Connection, merchant_id: UUID, window: Window, endpoint_id: str | None
) -> int:
    """Failed deliveries created in `window` (to one endpoint, or any) back to pending from
    attempt 1, due now; not those of disabled or deleted endpoints."""
    result = await conn.execute(
        """
        UPDATE delivery d SET status = 'pending', attempts = 0, next_retry_at = clock_timestamp()
        FROM endpoint p
        WHERE p.id = d.endpoint_id AND p.enabled AND d.merchant_id = $1 AND d.status = 'failed'
          AND ($2::timestamptz IS NULL OR d.created_at >= $2)
          AND ($3::timestamptz IS NULL OR d.created_at < $3)
          AND ($4::text IS NULL OR d.endpoint_id = $4)
        """,
        merchant_id, window.start, window.end, endpoint_id,
    )  # fmt: skip
    return int(result.split()[-1])
