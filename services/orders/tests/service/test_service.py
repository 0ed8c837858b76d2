from typing import Any
from uuid import UUID, uuid4

import pytest
from asyncpg import Connection

from kit.consumer import consume_event
from kit.db import Database
from kit.events import Envelope
from kit.idempotency import IdempotencyKeyReused
from kit.paging import Page
from orders import service
from orders.domain import Order, OrderNotFound, OrderStatus

MERCHANT = UUID("550e8400-e29b-41d4-a716-446655440000")


async def create(
    db: Database, merchant: UUID, amount: int, currency: str, receipt: str | None,
    notes: dict[str, Any] | None, key: str | None = None,
) -> Order:  # fmt: skip
    """Create through the use case (its answer is the order id here) and read the order back."""
    stored = await service.create_order(
        db, merchant, amount, currency, receipt, notes, lambda o: o.id.encode(), key
    )
    assert stored.status == 201
    return await service.get_order(db, stored.body.decode())


async def test_a_retried_create_with_its_key_makes_one_order(db: Database) -> None:
    merchant = uuid4()
    first = await create(db, merchant, 700, "INR", "r-1", None, key="order-key-1")
    again = await create(db, merchant, 700, "INR", "r-1", None, key="order-key-1")
    assert again.id == first.id
    with pytest.raises(IdempotencyKeyReused):
        await create(db, merchant, 701, "INR", "r-1", None, key="order-key-1")
    other = await create(db, uuid4(), 700, "INR", "r-1", None, key="order-key-1")
    assert other.id != first.id  # keys belong to one merchant
    orders = await service.list_orders(db, merchant, Page(limit=10))
    assert (orders.total, [o.id for o in orders.items]) == (1, [first.id])


async def test_a_new_order_is_one_row_and_no_event_since_nothing_subscribes(db: Database) -> None:
    order = await create(db, MERCHANT, 50000, "INR", "rcpt", {"k": "v"})
    async with db.transaction() as conn:
        messages = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE payload->'data'->>'id' = $1", order.id
        )
        published = await conn.fetchrow(
            "SELECT merchant_id, amount_minor, currency FROM order_ref_v1 WHERE id = $1", order.id
        )
    assert messages == 0  # payments reads the order_ref_v1 view instead (ADR 0011)
    assert published is not None
    assert tuple(published) == (MERCHANT, 50000, "INR")


async def test_list_is_newest_first_paged_and_per_merchant(db: Database) -> None:
    merchant, other = uuid4(), uuid4()
    created = [await create(db, merchant, 100 + i, "INR", None, None) for i in range(3)]
    await create(db, other, 999, "INR", None, None)
    first = await service.list_orders(db, merchant, Page(limit=2))
    rest = await service.list_orders(db, merchant, Page(limit=2, offset=2))
    assert (first.total, first.has_more, rest.has_more) == (3, True, False)
    assert [o.id for o in first.items + rest.items] == [o.id for o in reversed(created)]
    newer = await create(db, merchant, 200, "INR", None, None)  # added while paging
    after = await service.list_orders(
        db, merchant, Page(limit=2, starting_after=first.items[-1].id)
    )
    assert [o.id for o in after.items] == [created[0].id]  # neither repeated nor skipped
    before = await service.list_orders(db, merchant, Page(ending_before=first.items[0].id))
    assert ([o.id for o in before.items], before.total) == ([newer.id], None)


async def test_another_merchants_order_is_not_found(db: Database) -> None:
    order = await create(db, MERCHANT, 100, "INR", None, None)
    assert (await service.get_order(db, order.id, MERCHANT)).id == order.id
    with pytest.raises(OrderNotFound):
        await service.get_order(db, order.id, uuid4())
    with pytest.raises(OrderNotFound):
        await service.get_order(db, "order_doesnotexist0000")


def payment_event(kind: str, order_id: str) -> Envelope:
    return Envelope.new(kind, MERCHANT, {"id": "pay_0000000000000000", "order_id": order_id})


async def apply(db: Database, msg_id: str, *arrived: Envelope) -> list[Order] | None:
    """Consume one message carrying `arrived` (None: a redelivery, nothing done)."""

    async def together(conn: Connection, first: Envelope) -> list[Order]:
        return await service.apply_payment_events(conn, [first, *arrived[1:]])

    return await consume_event(db, msg_id, arrived[0], together)


async def test_payment_events_move_the_order_forward_once_and_never_back(db: Database) -> None:
    order = await create(db, MERCHANT, 100, "INR", None, None)
    created, success = (
        payment_event("payment.created", order.id),
        payment_event("payment.success", order.id),
    )
    [attempted] = await apply(db, "m1", created) or []
    assert attempted.status is OrderStatus.ATTEMPTED
    [paid] = await apply(db, "m2", success) or []
    assert paid.status is OrderStatus.PAID
    assert await apply(db, "m2", success) is None  # redelivery: inbox says seen
    late = await apply(db, "m3", payment_event("payment.created", order.id))
    assert late == []  # an out-of-order event does not move it back
    assert (await service.get_order(db, order.id)).status is OrderStatus.PAID
    async with db.transaction() as conn:
        rows = await conn.fetch(
            "SELECT DISTINCT payload->>'type' AS t, message_id FROM outbox"
            " WHERE payload->'data'->>'id' = $1 ORDER BY 1",
            order.id,
        )
    kinds = [r["t"] for r in rows]
    assert kinds == ["order.paid"]  # paid once, though success came twice


async def test_events_that_arrive_together_move_each_order_once_in_one_pass(db: Database) -> None:
    first, second = [await create(db, MERCHANT, 100, "INR", None, None) for _ in range(2)]
    arrived = [
        payment_event("payment.created", first.id), payment_event("payment.success", first.id),
        payment_event("payment.created", second.id), payment_event("payment.success", first.id),
        payment_event("payment.created", "order_unknown00000000"),
    ]  # fmt: skip
    moved = await apply(db, "m6", *arrived) or []
    assert sorted((o.id, o.status.value) for o in moved) == sorted(
        [(first.id, "paid"), (second.id, "attempted")]
    )
    async with db.transaction() as conn:
        [carried] = await conn.fetch(
            "SELECT task_name, payload FROM outbox WHERE payload::text LIKE $1", f'%"{first.id}"%'
        )
    assert carried["task_name"] == "webhooks.handle_event"  # order.paid, once
    assert (carried["payload"]["type"], carried["payload"]["data"]["id"]) == (
        "order.paid",
        first.id,
    )


async def test_unrelated_events_and_unknown_orders_are_ignored(db: Database) -> None:
    assert await apply(db, "m4", payment_event("payment.failed", "order_x")) == []
    assert await apply(db, "m5", payment_event("payment.created", "order_x")) == []
