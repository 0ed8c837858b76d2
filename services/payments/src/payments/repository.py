"""SQL for payments; rows in, domain objects out."""

from datetime import datetime
from uuid import UUID

import asyncpg

from kit import outbox
from kit.outbox import OutboxMessage
from payments.domain import OrderRef, Payment, PaymentMethod, PaymentStatus

_COLUMNS = (
    "id, order_id, merchant_id, amount_minor, currency, method, status, vpa, card_network,"
    " card_last4, error_code, error_description, captured, captured_at, amount_refunded_minor,"
    " created_at, updated_at"
)


def _payment(row: asyncpg.Record) -> Payment:
    values = dict(row)
    values["amount"] = values.pop("amount_minor")
    values["amount_refunded"] = values.pop("amount_refunded_minor")
    values["method"] = PaymentMethod(values["method"])
    values["status"] = PaymentStatus(values["status"])
    return Payment(**values)


async def insert_payment(
    conn: asyncpg.Connection, payment: Payment, messages: list[OutboxMessage], max_pending: int
) -> bool:
    """Insert the payment and queue its messages in one statement, unless its order already has
    a successful payment or `max_pending` pending ones; False if nothing was written (the order
    is paid, has too many pending payments, or the id is taken)."""
    row = await outbox.insert_with(
        conn,
        "INSERT INTO payment (id, order_id, merchant_id, amount_minor, currency, method, status,"
        " vpa, card_network, card_last4, created_at, updated_at)"
        " SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11 WHERE NOT EXISTS"
        " (SELECT FROM payment WHERE order_id = $2::varchar AND status = 'success')"
        " AND (SELECT count(*) FROM payment WHERE order_id = $2::varchar AND status = 'pending')"
        " < $12 ON CONFLICT (id) DO NOTHING RETURNING id",
        [payment.id, payment.order_id, payment.merchant_id, payment.amount, payment.currency,
         payment.method.value, payment.status.value, payment.vpa, payment.card_network,
         payment.card_last4, payment.created_at, max_pending],
        messages,
    )  # fmt: skip
    return row is not None


async def get_payment(conn: asyncpg.Connection, payment_id: str) -> Payment | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM payment WHERE id = $1", payment_id)
    return None if row is None else _payment(row)


async def lock_payment(conn: asyncpg.Connection, payment_id: str) -> Payment | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM payment WHERE id = $1 FOR UPDATE", payment_id
    )
    return None if row is None else _payment(row)


async def update_payment(conn: asyncpg.Connection, payment: Payment) -> Payment:
    row = await conn.fetchrow(
        "UPDATE payment SET status = $2, error_code = $3, error_description = $4, captured = $5,"
        " captured_at = $6, amount_refunded_minor = $7, updated_at = clock_timestamp()"
        f" WHERE id = $1 RETURNING {_COLUMNS}",
        payment.id, payment.status.value, payment.error_code, payment.error_description,
        payment.captured, payment.captured_at, payment.amount_refunded,
    )  # fmt: skip
    if row is None:
        raise LookupError(f"payment {payment.id} vanished while locked")
    return _payment(row)


async def get_order_ref(conn: asyncpg.Connection, order_id: str) -> OrderRef | None:
    row = await conn.fetchrow(
        "SELECT id, merchant_id, amount_minor, currency FROM order_ref WHERE id = $1", order_id
    )
    return None if row is None else OrderRef(*row)


async def save_order_ref(conn: asyncpg.Connection, order: OrderRef) -> None:
    await conn.execute(
        "INSERT INTO order_ref (id, merchant_id, amount_minor, currency) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (id) DO NOTHING",
        order.id, order.merchant_id, order.amount, order.currency,
    )  # fmt: skip


async def lock_order(conn: asyncpg.Connection, order_id: str) -> None:
    """Serialise the completions of one order's payments (the row exists: create saves it)."""
    await conn.execute("SELECT 1 FROM order_ref WHERE id = $1 FOR UPDATE", order_id)


async def claim_stuck_pending(
    conn: asyncpg.Connection, older_than_seconds: float, limit: int = 100
) -> list[str]:
    """Pending payments past their deadline (and not requeued within it), stamped as requeued."""
    rows = await conn.fetch(
        "UPDATE payment SET requeued_at = now() WHERE id IN (SELECT id FROM payment"
        " WHERE status = 'pending' AND coalesce(requeued_at, created_at)"
        "  < now() - make_interval(secs => $1) ORDER BY created_at LIMIT $2"
        "  FOR UPDATE SKIP LOCKED) RETURNING id",
        older_than_seconds, limit,
    )  # fmt: skip
    return [r["id"] for r in rows]


async def pending_payments(conn: asyncpg.Connection, order_id: str) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM payment WHERE order_id = $1 AND status = 'pending'", order_id
        )
    )


async def order_is_paid(conn: asyncpg.Connection, order_id: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM payment WHERE order_id = $1 AND status = 'success')",
            order_id,
        )
    )


async def list_payments(
    conn: asyncpg.Connection,
    merchant_id: UUID,
    limit: int,
    offset: int,
    status: PaymentStatus | None,
    order_id: str | None,
) -> tuple[list[Payment], int]:
    where = (
        "merchant_id = $1 AND ($2::text IS NULL OR status = $2)"
        " AND ($3::text IS NULL OR order_id = $3)"
    )
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM payment WHERE {where}"
        " ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5",
        merchant_id, status.value if status else None, order_id, limit, offset,
    )  # fmt: skip
    total = await conn.fetchval(
        f"SELECT count(*) FROM payment WHERE {where}",
        merchant_id, status.value if status else None, order_id,
    )  # fmt: skip
    return [_payment(r) for r in rows], int(total)


async def clock(conn: asyncpg.Connection) -> datetime:
    """The database's clock, so every timestamp of a payment comes from one source."""
    value: datetime = await conn.fetchval("SELECT clock_timestamp()")
    return value


async def payment_stats(conn: asyncpg.Connection, merchant_id: UUID) -> tuple[int, int, int]:
    """(payments, successful payments, their amount in minor units) of a merchant."""
    row = await conn.fetchrow(
        "SELECT count(*), count(*) FILTER (WHERE status = 'success'),"
        " coalesce(sum(amount_minor) FILTER (WHERE status = 'success'), 0)"
        " FROM payment WHERE merchant_id = $1",
        merchant_id,
    )
    return (int(row[0]), int(row[1]), int(row[2])) if row else (0, 0, 0)
