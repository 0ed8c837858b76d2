"""Order use cases; each is one transaction (or one statement)."""

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from asyncpg import Connection

from kit import idempotency, outbox
from kit.db import Database
from kit.events import Envelope
from kit.idempotency import StoredResponse
from kit.paging import Listed, NoteMatch, Page
from orders import events, repository
from orders.domain import Order, OrderNotFound, OrderStatus, new_order_id

log = logging.getLogger("orders.service")


CREATE_ENDPOINT = "POST /api/v1/orders"


async def create_order(
    db: Database,
    merchant_id: UUID,
    amount: int,
    currency: str,
    receipt: str | None,
    notes: dict[str, Any] | None,
    render: Callable[[Order], bytes],
    idempotency_key: str | None = None,
    callback_url: str | None = None,
) -> StoredResponse:
    """Insert the order (one statement, no event: nothing subscribes to new orders), answer 201.
    With a key the first response is stored with it in the same statement and replayed, so a
    retried create makes one order (kit.idempotency.insert_once).
    """
    key = None
    if idempotency_key is not None:
        # A callback URL joins the fingerprint only when given, so keys stored before it
        # existed still match their retries.
        fields: list[Any] = [amount, currency, receipt, notes]
        fingerprint = idempotency.fingerprint([*fields, callback_url] if callback_url else fields)
        key = idempotency.Key(merchant_id, CREATE_ENDPOINT, idempotency_key, fingerprint)
    async with db.connection() as conn:
        while True:  # an id collision is astronomically rare; draw again
            now = datetime.now(UTC)
            order = Order(new_order_id(), merchant_id, amount, currency, receipt, notes,
                          OrderStatus.CREATED, now, now, callback_url)  # fmt: skip
            response = StoredResponse(201, render(order))
            if key is None:
                if await repository.insert_order(conn, order):
                    return response
            elif answer := await repository.insert_order_once(conn, key, response, order):
                return answer


EVENTS_IN = frozenset(events.ORDER_STATUS_AFTER)


async def apply_payment_events(conn: Connection, arrived: list[Envelope]) -> list[Order]:
    """Move each order along after the payment events that arrived together, in any order
    (kit.consumer runs it once per batch of messages, in the transaction that records them):
    one statement locks the orders, one moves those that advance, one queues their
    `order.paid` events. Returns the orders that moved."""
    targets: dict[str, OrderStatus] = {}  # the furthest status its events ask of each order
    for event in arrived:
        if (target := events.ORDER_STATUS_AFTER.get(event.type)) is not None:
            order_id = str(event.data["order_id"])
            reached = targets.get(order_id)
            targets[order_id] = target if reached is None or target.rank > reached.rank else reached
    if not targets:
        return []
    locked = await repository.lock_orders(conn, sorted(targets))
    if missing := set(targets) - {o.id for o in locked}:
        log.warning("payment events for unknown orders", extra={"order_ids": sorted(missing)})
    moving = [ahead for o in locked if (ahead := o.advance(targets[o.id])) is not o]
    moved = await repository.update_statuses(conn, moving)
    paid = [o for o in moved if o.status is OrderStatus.PAID]
    await outbox.add(conn, [m for o in paid for m in events.order_event(events.ORDER_PAID, o)[1]])
    return moved


async def get_order(db: Database, order_id: str, merchant_id: UUID | None = None) -> Order:
    """The order; another merchant's order is reported as missing, not forbidden."""
    async with db.transaction() as conn:
        order = await repository.get_order(conn, order_id)
    if order is None or (merchant_id is not None and order.merchant_id != merchant_id):
        raise OrderNotFound()
    return order


async def set_notes(
    db: Database, order_id: str, merchant_id: UUID, notes: dict[str, Any] | None
) -> Order:
    """Replace the order's notes (none: remove them all); another merchant's is missing."""
    async with db.transaction() as conn:
        order = await repository.set_notes(conn, order_id, merchant_id, notes or {})
    if order is None:
        raise OrderNotFound()
    return order


async def list_orders(
    db: Database,
    merchant_id: UUID,
    page: Page,
    receipt: str | None = None,
    note: NoteMatch | None = None,
) -> Listed[Order]:
    async with db.transaction() as conn:
        return await repository.list_orders(conn, merchant_id, page, receipt, note)
