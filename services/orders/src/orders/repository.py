"""SQL for orders; rows in, domain objects out."""

from typing import Any
from uuid import UUID

import asyncpg

from orders.domain import Order, OrderId, OrderStatus

_COLUMNS = "id, merchant_id, amount_minor, currency, receipt, notes, status, created_at, updated_at"


def _order(row: asyncpg.Record) -> Order:
    values = dict(row)
    values["amount"] = values.pop("amount_minor")
    values["status"] = OrderStatus(values["status"])
    return Order(**values)


async def insert_order(
    conn: asyncpg.Connection,
    order_id: OrderId,
    merchant_id: UUID,
    amount: int,
    currency: str,
    receipt: str | None,
    notes: dict[str, Any] | None,
) -> Order | None:
    """Insert; None if the id is already taken (the caller draws a new one)."""
    row = await conn.fetchrow(
        # clock_timestamp(), not now(): orders made in one transaction still sort by creation.
        "INSERT INTO merchant_order (id, merchant_id, amount_minor, currency, receipt, notes,"
        " created_at, updated_at) SELECT $1, $2, $3, $4, $5, $6, t, t FROM clock_timestamp() t"
        f" ON CONFLICT (id) DO NOTHING RETURNING {_COLUMNS}",
        order_id, merchant_id, amount, currency, receipt, notes,
    )  # fmt: skip
    return None if row is None else _order(row)


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
    conn: asyncpg.Connection, merchant_id: UUID, limit: int, offset: int
) -> tuple[list[Order], int]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM merchant_order WHERE merchant_id = $1"
        " ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
        merchant_id, limit, offset,
    )  # fmt: skip
    total = await conn.fetchval(
        "SELECT count(*) FROM merchant_order WHERE merchant_id = $1", merchant_id
    )
    return [_order(r) for r in rows], int(total)
