"""SQL for orders; rows in, domain objects out."""

from uuid import UUID

import asyncpg

from orders.domain import Order, OrderStatus

_COLUMNS = (
    "id, merchant_id, amount_minor, currency, receipt, notes, status, created_at, updated_at,"
    " callback_url"
)


def _order(row: asyncpg.Record) -> Order:
    values = dict(row)
    values["amount"] = values.pop("amount_minor")
    values["status"] = OrderStatus(values["status"])
    return Order(**values)


async def insert_order(conn: asyncpg.Connection, order: Order) -> bool:
    """Insert the order; False if the id is already taken (nothing written; the caller draws a
    new one)."""
    row = await conn.fetchrow(
        "INSERT INTO merchant_order (id, merchant_id, amount_minor, currency, receipt, notes,"
        " status, created_at, updated_at, callback_url)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)"
        " ON CONFLICT (id) DO NOTHING RETURNING id",
        order.id, order.merchant_id, order.amount, order.currency, order.receipt, order.notes,
        order.status.value, order.created_at, order.callback_url,
    )  # fmt: skip
    return row is not None


async def get_order(conn: asyncpg.Connection, order_id: str) -> Order | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM merchant_order WHERE id = $1", order_id)
    return None if row is None else _order(row)


async def lock_order(conn: asyncpg.Connection, order_id: str) -> Order | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM merchant_order WHERE id = $1 FOR UPDATE", order_id
    )
    return None if row is None else _order(row)


async def update_status(conn: asyncpg.Connection, order: Order) -> Order:
    row = await conn.fetchrow(
        "UPDATE merchant_order SET status = $2, updated_at = clock_timestamp() WHERE id = $1"
        f" RETURNING {_COLUMNS}",
        order.id, order.status.value,
    )  # fmt: skip
    if row is None:
        raise LookupError(f"order {order.id} vanished while locked")
    return _order(row)


async def list_orders(
    conn: asyncpg.Connection, merchant_id: UUID, limit: int, offset: int, receipt: str | None
) -> tuple[list[Order], int]:
    """Newest first; with `receipt`, only the orders with exactly that receipt."""
    where = "merchant_id = $1 AND ($2::text IS NULL OR receipt = $2)"
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM merchant_order WHERE {where}"
        " ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4",
        merchant_id, receipt, limit, offset,
    )  # fmt: skip
    total = await conn.fetchval(
        f"SELECT count(*) FROM merchant_order WHERE {where}", merchant_id, receipt
    )
    return [_order(r) for r in rows], int(total)
