import json
import random
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from kit.db import Database
from kit.idempotency import IdempotencyKeyReused
from kit.paging import Page
from refunds import repository, service
from refunds.clients import PaymentsClient
from refunds.domain import (
    PaymentNotFound,
    PaymentNotRefundable,
    PaymentRef,
    RefundExceedsAvailable,
    RefundStatus,
    RefundTiming,
)

TEST_MERCHANT = UUID("550e8400-e29b-41d4-a716-446655440000")
INSTANT = RefundTiming(True, 0, 3000, 5000)


def render(refund: Any) -> bytes:
    return json.dumps(
        {"id": refund.id, "amount": refund.amount, "status": refund.status.value}
    ).encode()


async def seed(db: Database, amount: int = 50000, merchant: UUID = TEST_MERCHANT) -> str:
    """A refundable payment's balance, as its first refund starts it (from payments' answer)."""
    payment_id = f"pay_{uuid4().hex[:16]}"
    async with db.transaction() as conn:
        await repository.save_balance(
            conn, PaymentRef(payment_id, merchant, amount, "INR", "success")
        )
    return payment_id


async def refund(db: Database, payment_id: str, amount: int, key: str | None = None,
                 merchant: UUID = TEST_MERCHANT) -> dict[str, Any]:  # fmt: skip
    async with httpx.AsyncClient(base_url="http://127.0.0.1:1") as unreachable:
        stored = await service.create_refund(
            db, PaymentsClient(unreachable), merchant, payment_id, amount, "r", render, key
        )
    assert stored.status == 201
    return json.loads(stored.body)  # type: ignore[no-any-return]


async def test_partial_refunds_up_to_the_amount_and_no_further(db: Database) -> None:
    payment_id = await seed(db, 50000)
    first = await refund(db, payment_id, 40000)
    assert first["status"] == "pending"
    with pytest.raises(RefundExceedsAvailable):
        await refund(db, payment_id, 40000)
    await refund(db, payment_id, 10000)
    with pytest.raises(RefundExceedsAvailable):
        await refund(db, payment_id, 1)
    refunds = await service.list_refunds(db, TEST_MERCHANT, Page(), payment_id)
    assert (refunds.total, sum(r.amount for r in refunds.items)) == (2, 50000)


async def test_another_merchants_payment_is_not_found(db: Database) -> None:
    other = await seed(db, 1000, merchant=uuid4())
    with pytest.raises(PaymentNotFound):
        await refund(db, other, 100)


async def test_a_payment_not_seen_yet_is_asked_of_the_payments_service(
    db: Database, database_urls: dict[str, str], redis_url: str
) -> None:
    import asyncpg
    from asgi_lifespan import LifespanManager

    import payments.main
    import payments.settings

    conn = await asyncpg.connect(database_urls["payments"])
    ids = {status: f"pay_{uuid4().hex[:16]}" for status in ("success", "pending")}
    try:
        for status, payment_id in ids.items():
            await conn.execute(
                "INSERT INTO payment (id, order_id, merchant_id, amount_minor, currency, method,"
                " status, vpa, created_at, updated_at) VALUES ($1, 'order_x', $2, 7000, 'INR',"
                " 'upi', $3, 'a@b', now(), now())",
                payment_id, TEST_MERCHANT, status,
            )  # fmt: skip
    finally:
        await conn.close()
    settings = payments.settings.Settings(
        database_url=database_urls["payments"], redis_url=redis_url
    )
    async with (
        LifespanManager(payments.main.create_app(settings)) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(manager.app), base_url="http://p"
        ) as client,
    ):
        reader = PaymentsClient(client)
        stored = await service.create_refund(
            db, reader, TEST_MERCHANT, ids["success"], 7000, None, render
        )
        assert json.loads(stored.body)["amount"] == 7000
        with pytest.raises(PaymentNotRefundable):
            await service.create_refund(
                db, reader, TEST_MERCHANT, ids["pending"], 100, None, render
            )
        with pytest.raises(PaymentNotFound):
            await service.create_refund(
                db, reader, TEST_MERCHANT, "pay_nosuchpayment000", 1, None, render
            )
        with pytest.raises(RefundExceedsAvailable):
            await service.create_refund(db, reader, TEST_MERCHANT, ids["success"], 1, None, render)


async def test_payments_service_down_is_unavailable_not_a_wrong_answer(db: Database) -> None:
    from kit.errors import Unavailable

    with pytest.raises(Unavailable):
        await refund(db, "pay_neverseen00000", 100)


async def test_processing_marks_processed_once_with_its_event(db: Database) -> None:
    payment_id = await seed(db, 3000)
    created = await refund(db, payment_id, 1000)
    done = await service.process_refund(db, created["id"], INSTANT, random.Random())
    assert done is not None
    assert (done.status, done.processed_at is not None) == (RefundStatus.PROCESSED, True)
    again = await service.process_refund(db, created["id"], INSTANT, random.Random())
    assert again is not None
    assert again.processed_at == done.processed_at
    async with db.transaction() as conn:
        rows = await conn.fetch(
            "SELECT queue, payload->>'type' AS t FROM outbox WHERE payload->'data'->>'id' = $1"
            " ORDER BY id",
            created["id"],
        )
    assert [(r["queue"], r["t"]) for r in rows] == [
        ("webhooks", "refund.created"),
        ("webhooks", "refund.processed"),
        ("payments", "refund.processed"),
    ]


async def test_idempotent_refund_replays_and_refuses_a_changed_request(db: Database) -> None:
    payment_id = await seed(db, 5000)
    first = await refund(db, payment_id, 1000, key="rk-1")
    assert await refund(db, payment_id, 1000, key="rk-1") == first
    with pytest.raises(IdempotencyKeyReused):
        await refund(db, payment_id, 2000, key="rk-1")
    assert (await service.list_refunds(db, TEST_MERCHANT, Page(), payment_id)).total == 1


async def test_refunds_and_refunded_amounts_are_counted(db: Database) -> None:
    from prometheus_client import REGISTRY

    def sample(name: str, labels: dict[str, str]) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    pending, amount = (
        sample("refunds_total", {"status": "pending"}),
        sample("refund_amount_minor_units_total", {"currency": "INR"}),
    )
    created = await refund(db, await seed(db, 800), 800)
    await service.process_refund(db, created["id"], INSTANT, random.Random())
    assert sample("refunds_total", {"status": "pending"}) == pending + 1
    assert sample("refund_amount_minor_units_total", {"currency": "INR"}) == amount + 800


async def test_a_refund_pending_past_its_deadline_gets_its_job_again(db: Database) -> None:
    created = await refund(db, await seed(db, 3000), 1000)
    assert await service.requeue_stuck_refunds(db, deadline_seconds=3600) == 0
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE refund SET created_at = now() - interval '2 minutes' WHERE id = $1",
            created["id"],
        )
    assert await service.requeue_stuck_refunds(db, deadline_seconds=60) == 1
    assert await service.requeue_stuck_refunds(db, deadline_seconds=60) == 0  # spaced out
    async with db.transaction() as conn:
        jobs = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE task_name = 'refunds.process_refund'"
            " AND payload->>'refund_id' = $1",
            created["id"],
        )
    assert jobs == 2
