from uuid import UUID, uuid4

import pytest

from kit.db import Database
from kit.events import Envelope
from orders import service
from orders.domain import OrderNotFound

MERCHANT = UUID("550e8400-e29b-41d4-a716-446655440000")


async def test_order_and_its_event_are_written_together(db: Database) -> None:
    order = await service.create_order(db, MERCHANT, 50000, "INR", "rcpt", {"k": "v"})
    async with db.transaction() as conn:
        rows = await conn.fetch("SELECT * FROM outbox WHERE payload->'data'->>'id' = $1", order.id)
    [row] = rows
    assert (row["queue"], row["task_name"]) == ("webhooks", "webhooks.handle_event")
    envelope = Envelope.model_validate(row["payload"])
    assert (envelope.type, envelope.merchant_id, envelope.id) == (
        "order.created",
        MERCHANT,
        row["message_id"],
    )
    assert envelope.data["amount"] == 50000
    assert envelope.data["status"] == "created"


async def test_list_is_newest_first_paged_and_per_merchant(db: Database) -> None:
    merchant, other = uuid4(), uuid4()
    created = [
        await service.create_order(db, merchant, 100 + i, "INR", None, None) for i in range(3)
    ]
    await service.create_order(db, other, 999, "INR", None, None)
    page, total = await service.list_orders(db, merchant, limit=2, offset=0)
    rest, _ = await service.list_orders(db, merchant, limit=2, offset=2)
    assert total == 3
    assert [o.id for o in page + rest] == [o.id for o in reversed(created)]


async def test_another_merchants_order_is_not_found(db: Database) -> None:
    order = await service.create_order(db, MERCHANT, 100, "INR", None, None)
    assert (await service.get_order(db, order.id, MERCHANT)).id == order.id
    with pytest.raises(OrderNotFound):
        await service.get_order(db, order.id, uuid4())
    with pytest.raises(OrderNotFound):
        await service.get_order(db, "order_doesnotexist0000")
