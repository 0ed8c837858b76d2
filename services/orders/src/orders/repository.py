"""SQL for orders; rows in, domain objects out."""

from typing import Any
from uuid import UUID

import asyncpg

from kit import idempotency
from kit.idempotency import StoredResponse
from kit.paging import Listed, NoteMatch, Page, fetch_page
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


def _order_insert(order: Order) -> tuple[str, list[Any]]:
    return (
        "INSERT INTO merchant_order (id, merchant_id, amount_minor, currency, receipt, notes,"
        " status, created_at, updated_at, callback_url)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)"
        " ON CONFLICT (id) DO NOTHING RETURNING id",
        [order.id, order.merchant_id, order.amount, order.currency, order.receipt, order.notes,
         order.status.value, order.created_at, order.callback_url],
    )  # fmt: skip


async def insert_order(conn: asyncpg.Connection, order: Order) -> bool:
    """Insert the order; False if the id is already taken (nothing written; the caller draws a
    new one)."""
    insert, args = _order_insert(order)
    return await conn.fetchrow(insert, *args) is not None


async def insert_order_once(
    conn: asyncpg.Connection, key: idempotency.Key, response: StoredResponse, order: Order
) -> StoredResponse | None:
    """`insert_order` with its idempotency key holding `response`, in one statement
    (kit.idempotency.insert_once): `response`, the key's earlier response, or None (the id
    is taken)."""
    insert, args = _order_insert(order)
    return await idempotency.insert_once(conn, key, response, insert, args, [])


async def get_order(conn: asyncpg.Connection, order_id: str) -> Order | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM merchant_order WHERE id = $1", order_id)
    return None if row is None else _order(row)


async def lock_orders(conn: asyncpg.Connection, order_ids: list[str]) -> list[Order]:
    """The orders that exist among `order_ids`, locked in id order (replicas never deadlock)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM merchant_order WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE",
        order_ids,
    )
    return [_order(r) for r in rows]


async def set_notes(
    conn: asyncpg.Connection, order_id: str, merchant_id: UUID, notes: dict[str, Any]
) -> Order | None:
    row = await conn.fetchrow(
        "UPDATE merchant_order SET notes = $3, updated_at = clock_timestamp()"
        f" WHERE id = $1 AND merchant_id = $2 RETURNING {_COLUMNS}",
        order_id, merchant_id, notes,
    )  # fmt: skip
    return None if row is None else _order(row)


async def update_statuses(conn: asyncpg.Connection, orders: list[Order]) -> list[Order]:
    """Store each order's status; one statement."""
    if not orders:
        return []
    rows = await conn.fetch(
        "UPDATE merchant_order o SET status = u.status, updated_at = clock_timestamp()"
        " FROM unnest($1::text[], $2::text[]) AS u(id, status) WHERE o.id = u.id"
        f" RETURNING {', '.join(f'o.{c.strip()}' for c in _COLUMNS.split(','))}",
        [o.id for o in orders], [o.status.value for o in orders],
    )  # fmt: skip
    if len(rows) != len(orders):
        raise LookupError("an order vanished while locked")
    return [_order(r) for r in rows]


async def list_orders(
    conn: asyncpg.Connection,
    merchant_id: UUID,
    page: Page,
    receipt: str | None,
    note: NoteMatch | None = None,
) -> Listed[Order]:
    """Newest first; with `receipt`, only the orders with exactly that receipt."""
    paged = await fetch_page(
        conn, select=f"SELECT {_COLUMNS} FROM merchant_order", page=page,
        owner="merchant_id = $1", owner_args=[merchant_id],
        filters="$2::text IS NULL OR receipt = $2", filter_args=[receipt], note=note,
    )  # fmt: skip
    return paged.map(_order)
