"""SQL for payments; rows in, domain objects out."""

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from kit import idempotency, outbox
from kit.idempotency import StoredResponse
from kit.outbox import OutboxMessage
from kit.paging import Listed, NoteMatch, Page, fetch_page
from payments.domain import OrderRef, Payment, PaymentMethod, PaymentStatus

_COLUMNS = (
    "id, order_id, merchant_id, amount_minor, currency, method, status, vpa, card_network,"
    " card_last4, error_code, error_description, captured, captured_at, amount_refunded_minor,"
    " created_at, updated_at, notes"
)
_PAYMENT_COLUMNS = ", ".join(f"payment.{c.strip()}" for c in _COLUMNS.split(","))
# pg_advisory_xact_lock(ORDER_LOCKS, hashtext(order_id)) serialises completing one order's
# payments; the first key keeps these locks apart from any other advisory lock.
ORDER_LOCKS = 7001


def _payment(row: asyncpg.Record) -> Payment:
    values = dict(row)
    values.pop("test_outcome", None)
    values["amount"] = values.pop("amount_minor")
    values["amount_refunded"] = values.pop("amount_refunded_minor")
    values["method"] = PaymentMethod(values["method"])
    values["status"] = PaymentStatus(values["status"])
    return Payment(**values)


def _payment_insert(
    payment: Payment, max_pending: int, delay_seconds: float, test_outcome: str | None
) -> tuple[str, list[Any]]:
    """The payment's INSERT, due `delay_seconds` from now by the database's clock, unless its
    order already has a successful payment or `max_pending` pending ones, or the id is taken."""
    return (
        "INSERT INTO payment (id, order_id, merchant_id, amount_minor, currency, method, status,"
        " vpa, card_network, card_last4, created_at, updated_at, due_at, test_outcome, notes)"
        " SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11,"
        " clock_timestamp() + make_interval(secs => $13), $14, $15 WHERE NOT EXISTS"
        " (SELECT FROM payment WHERE order_id = $2::varchar AND status = 'success')"
        " AND (SELECT count(*) FROM payment WHERE order_id = $2::varchar AND status = 'pending')"
        " < $12 ON CONFLICT (id) DO NOTHING RETURNING id",
        [payment.id, payment.order_id, payment.merchant_id, payment.amount, payment.currency,
         payment.method.value, payment.status.value, payment.vpa, payment.card_network,
         payment.card_last4, payment.created_at, max_pending, delay_seconds, test_outcome,
         payment.notes],
    )  # fmt: skip


async def insert_payment(
    conn: asyncpg.Connection,
    payment: Payment,
    messages: list[OutboxMessage],
    max_pending: int,
    delay_seconds: float,
    test_outcome: str | None = None,
) -> bool:
    """Insert the payment (`_payment_insert`) and queue its messages in one statement; False
    if nothing was written (the order is paid, has too many pending payments, or the id is
    taken). `test_outcome`: what a test VPA or card asked for (test mode only)."""
    insert, args = _payment_insert(payment, max_pending, delay_seconds, test_outcome)
    return await outbox.insert_with(conn, insert, args, messages) is not None


async def insert_payment_once(
    conn: asyncpg.Connection,
    key: idempotency.Key,
    response: StoredResponse,
    payment: Payment,
    messages: list[OutboxMessage],
    max_pending: int,
    delay_seconds: float,
    test_outcome: str | None = None,
) -> StoredResponse | None:
    """`insert_payment` with its idempotency key holding `response`, in one statement
    (kit.idempotency.insert_once): `response`, the key's earlier response, or None."""
    insert, args = _payment_insert(payment, max_pending, delay_seconds, test_outcome)
    return await idempotency.insert_once(conn, key, response, insert, args, messages)


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
    """From `orders.order_ref_v1`, the view the orders service publishes for payments."""
    row = await conn.fetchrow(
        "SELECT id, merchant_id, amount_minor, currency FROM orders.order_ref_v1 WHERE id = $1",
        order_id,
    )
    return None if row is None else OrderRef(*row)


async def lock_orders(conn: asyncpg.Connection, order_ids: list[str]) -> None:
    """Serialise completing these orders' payments until the transaction ends; the locks are
    taken in one order, so two workers never wait on each other in a cycle."""
    await conn.execute(
        "SELECT count(pg_advisory_xact_lock($1, k)) FROM"
        " (SELECT DISTINCT hashtext(o) AS k FROM unnest($2::text[]) AS o ORDER BY k) AS s",
        ORDER_LOCKS, order_ids,
    )  # fmt: skip


async def lock_due(conn: asyncpg.Connection, limit: int) -> list[tuple[Payment, str | None]]:
    """Pending payments whose processing time has come, oldest due first, locked for this
    transaction, each with the outcome a test VPA or card asked for; those another worker
    holds are skipped."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS}, test_outcome FROM payment WHERE status = 'pending'"
        " AND due_at <= clock_timestamp() ORDER BY due_at, id LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
    )
    return [(_payment(r), r["test_outcome"]) for r in rows]


async def next_due_in(conn: asyncpg.Connection) -> float | None:
    """Seconds until the next pending payment is due (0 if one is due now), None if none."""
    seconds = await conn.fetchval(
        "SELECT extract(epoch FROM min(due_at) - clock_timestamp())"
        " FROM payment WHERE status = 'pending'"
    )
    return None if seconds is None else max(0.0, float(seconds))


async def paid_orders(conn: asyncpg.Connection, order_ids: list[str]) -> set[str]:
    rows = await conn.fetch(
        "SELECT order_id FROM payment WHERE order_id = ANY($1) AND status = 'success'", order_ids
    )
    return {r["order_id"] for r in rows}


async def complete_payments(conn: asyncpg.Connection, payments: list[Payment]) -> list[Payment]:
    """Record the outcomes of locked pending payments in one statement; the rows as stored, in
    the order given."""
    rows = await conn.fetch(
        "UPDATE payment SET status = u.status, error_code = u.code,"
        " error_description = u.reason, updated_at = clock_timestamp()"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(id, status, code,"
        " reason) WHERE payment.id = u.id AND payment.status = 'pending'"
        f" RETURNING {_PAYMENT_COLUMNS}",
        [p.id for p in payments], [p.status.value for p in payments],
        [p.error_code for p in payments], [p.error_description for p in payments],
    )  # fmt: skip
    stored = {r["id"]: _payment(r) for r in rows}
    return [stored[p.id] for p in payments if p.id in stored]


async def processing_backlog(conn: asyncpg.Connection) -> tuple[int, int]:
    """(pending payments not yet due, pending payments due now)."""
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE due_at > clock_timestamp()),"
        " count(*) FILTER (WHERE due_at <= clock_timestamp()) FROM payment"
        " WHERE status = 'pending'"
    )
    return (int(row[0]), int(row[1])) if row else (0, 0)


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
    page: Page,
    status: PaymentStatus | None,
    order_id: str | None,
    note: NoteMatch | None = None,
) -> Listed[Payment]:
    paged = await fetch_page(
        conn, select=f"SELECT {_COLUMNS} FROM payment", page=page,
        owner="merchant_id = $1", owner_args=[merchant_id],
        filters="($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR order_id = $3)",
        filter_args=[status.value if status else None, order_id], note=note,
    )  # fmt: skip
    return paged.map(_payment)


async def set_notes(
    conn: asyncpg.Connection, payment_id: str, merchant_id: UUID, notes: dict[str, Any]
) -> Payment | None:
    row = await conn.fetchrow(
        "UPDATE payment SET notes = $3, updated_at = clock_timestamp()"
        f" WHERE id = $1 AND merchant_id = $2 RETURNING {_COLUMNS}",
        payment_id, merchant_id, notes,
    )  # fmt: skip
    return None if row is None else _payment(row)


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
