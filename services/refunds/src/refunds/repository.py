"""SQL for refunds and refundable balances; rows in, domain objects out."""

from typing import Any
from uuid import UUID

import asyncpg

from kit.paging import Listed, NoteMatch, Page, fetch_page
from refunds.domain import Balance, PaymentRef, Refund, RefundStatus

_REFUND = (
    "id, payment_id, merchant_id, amount_minor, currency, reason, status, created_at, processed_at,"
    " notes"
)


def _refund(row: asyncpg.Record) -> Refund:
    values = dict(row)
    values["amount"] = values.pop("amount_minor")
    values["status"] = RefundStatus(values["status"])
    return Refund(**values)


async def save_balance(conn: asyncpg.Connection, payment: PaymentRef) -> None:
    """Start the balance of a successful payment (idempotent)."""
    await conn.execute(
        "INSERT INTO payment_balance (payment_id, merchant_id, amount_minor, currency)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        payment.id, payment.merchant_id, payment.amount, payment.currency,
    )  # fmt: skip


async def lock_balance(conn: asyncpg.Connection, payment_id: str) -> Balance | None:
    row = await conn.fetchrow(
        "SELECT payment_id, merchant_id, amount_minor, currency, refunded_minor"
        " FROM payment_balance WHERE payment_id = $1 FOR UPDATE",
        payment_id,
    )
    return None if row is None else Balance(*row)


async def update_balance(conn: asyncpg.Connection, balance: Balance) -> None:
    await conn.execute(
        "UPDATE payment_balance SET refunded_minor = $2 WHERE payment_id = $1",
        balance.payment_id, balance.refunded,
    )  # fmt: skip


async def insert_refund(conn: asyncpg.Connection, refund: Refund) -> Refund | None:
    row = await conn.fetchrow(
        "INSERT INTO refund (id, payment_id, merchant_id, amount_minor, currency, reason, status,"
        " notes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING"
        f" RETURNING {_REFUND}",
        refund.id, refund.payment_id, refund.merchant_id, refund.amount, refund.currency,
        refund.reason, refund.status.value, refund.notes,
    )  # fmt: skip
    return None if row is None else _refund(row)


async def set_notes(
    conn: asyncpg.Connection, refund_id: str, merchant_id: UUID, notes: dict[str, Any]
) -> Refund | None:
    row = await conn.fetchrow(
        f"UPDATE refund SET notes = $3 WHERE id = $1 AND merchant_id = $2 RETURNING {_REFUND}",
        refund_id, merchant_id, notes,
    )  # fmt: skip
    return None if row is None else _refund(row)


async def get_refund(conn: asyncpg.Connection, refund_id: str) -> Refund | None:
    row = await conn.fetchrow(f"SELECT {_REFUND} FROM refund WHERE id = $1", refund_id)
    return None if row is None else _refund(row)


async def lock_refund(conn: asyncpg.Connection, refund_id: str) -> Refund | None:
    row = await conn.fetchrow(f"SELECT {_REFUND} FROM refund WHERE id = $1 FOR UPDATE", refund_id)
    return None if row is None else _refund(row)


async def claim_stuck_pending(
    conn: asyncpg.Connection, older_than_seconds: float, limit: int = 100
) -> list[str]:
    """Pending refunds past their deadline (and not requeued within it), stamped as requeued."""
    rows = await conn.fetch(
        "UPDATE refund SET requeued_at = now() WHERE id IN (SELECT id FROM refund"
        " WHERE status = 'pending' AND coalesce(requeued_at, created_at)"
        "  < now() - make_interval(secs => $1) ORDER BY created_at LIMIT $2"
        "  FOR UPDATE SKIP LOCKED) RETURNING id",
        older_than_seconds, limit,
    )  # fmt: skip
    return [r["id"] for r in rows]


async def mark_processed(conn: asyncpg.Connection, refund_id: str) -> Refund:
    row = await conn.fetchrow(
        "UPDATE refund SET status = 'processed', processed_at = clock_timestamp()"
        f" WHERE id = $1 RETURNING {_REFUND}",
        refund_id,
    )
    if row is None:
        raise LookupError(f"refund {refund_id} vanished while locked")
    return _refund(row)


async def list_refunds(
    conn: asyncpg.Connection,
    merchant_id: UUID,
    page: Page,
    payment_id: str | None,
    note: NoteMatch | None = None,
) -> Listed[Refund]:
    paged = await fetch_page(
        conn, select=f"SELECT {_REFUND} FROM refund", page=page,
        owner="merchant_id = $1", owner_args=[merchant_id],
        filters="$2::text IS NULL OR payment_id = $2", filter_args=[payment_id], note=note,
    )  # fmt: skip
    return paged.map(_refund)
