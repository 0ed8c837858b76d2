"""Payment use cases on real Postgres, reading orders that the real orders service wrote."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any
from uuid import UUID

import pytest

from kit.consumer import consume_event
from kit.db import Database
from kit.idempotency import IdempotencyKeyReused
from payments import service
from payments.domain import (
    FAILURE_REASONS,
    CardInput,
    ExpiredCard,
    InvalidCard,
    InvalidVpa,
    OrderAlreadyPaid,
    OrderNotFound,
    Payment,
    PaymentMethod,
    PaymentNotCapturable,
    PaymentNotFound,
    PaymentStatus,
    ProcessingRules,
    TooManyPendingPayments,
    UnsupportedMethod,
)

MakeOrder = Callable[..., Awaitable[dict[str, Any]]]
Process = Callable[..., Awaitable[dict[str, Payment]]]
TEST_MERCHANT = UUID("550e8400-e29b-41d4-a716-446655440000")
TODAY = date(2026, 11, 26)
CARD = CardInput("4111 1111 1111 1111", "12", "2030", "123", "John Doe")
INSTANT = ProcessingRules(True, True, 0, 0.9, 0.95, 5000, 10000)
DECLINE = ProcessingRules(True, False, 0, 0.9, 0.95, 5000, 10000)


def render(payment: Any) -> bytes:
    return json.dumps({"id": payment.id, "status": payment.status.value}).encode()


async def create(
    db: Database,
    order_id: str,
    method: str = "upi",
    *,
    vpa: str | None = "user@paytm",
    card: CardInput | None = None,
    key: str | None = None,
    merchant: UUID | None = TEST_MERCHANT,
    rules: ProcessingRules = INSTANT,
) -> dict[str, Any]:
    request = service.NewPayment(order_id, method, vpa, card)
    stored = await service.create_payment(
        db, rules, request, render, merchant_id=merchant, idempotency_key=key, today=TODAY
    )
    assert stored.status == 201
    return json.loads(stored.body)  # type: ignore[no-any-return]


async def outbox_rows(db: Database, *payment_ids: str) -> list[tuple[str, str, list[str]]]:
    """Outbox messages about these payments: queue, task and the types of the events carried."""
    async with db.transaction() as conn:
        rows = await conn.fetch(
            "SELECT queue, task_name, payload FROM outbox WHERE payload::text LIKE ANY($1)"
            " ORDER BY id",
            [f'%"{p}"%' for p in payment_ids],
        )
    carried = [(r, r["payload"].get("events", [r["payload"]])) for r in rows]
    return [
        (r["queue"], r["task_name"], [e["type"] for e in events if e["data"]["id"] in payment_ids])
        for r, events in carried
    ]


class TestCreate:
    async def test_pending_payment_with_its_events_in_one_statement_and_no_job(
        self, db: Database, make_order: MakeOrder
    ) -> None:
        order = await make_order(50000)
        created = await create(db, order["id"])
        payment = await service.get_payment(db, created["id"])
        assert (payment.status, payment.amount, payment.currency) == (
            PaymentStatus.PENDING,
            50000,
            "INR",
        )
        assert payment.merchant_id == TEST_MERCHANT
        assert await outbox_rows(db, created["id"]) == [
            ("webhooks", "webhooks.handle_events", ["payment.created", "payment.pending"]),
            ("orders", "orders.handle_event", ["payment.created"]),
        ]  # one message per consumer; no processing job: the worker claims the payment when due

    async def test_card_keeps_only_network_and_last_four(
        self, db: Database, make_order: MakeOrder
    ) -> None:
        order = await make_order()
        created = await create(db, order["id"], "card", vpa=None, card=CARD)
        async with db.transaction() as conn:
            row: dict[str, Any] = dict(
                await conn.fetchrow("SELECT * FROM payment WHERE id = $1", created["id"])  # type: ignore[arg-type]
            )
            everything = str(row) + str(await outbox_rows(db, created["id"]))
        assert (row["card_network"], row["card_last4"], row["vpa"]) == ("visa", "1111", None)
        for secret in ("4111111111111111", "4111 1111 1111 1111", '123"'):
            assert secret not in everything

    @pytest.mark.parametrize(
        ("method", "vpa", "card", "error"),
        [
            ("upi", "bad vpa@x", None, InvalidVpa),
            ("upi", None, None, InvalidVpa),
            ("card", None, CardInput("4111111111111112", "12", "2030", "123", "J"), InvalidCard),
            ("card", None, CardInput("4111111111111111", "01", "2020", "123", "J"), ExpiredCard),
            ("card", None, None, UnsupportedMethod),
            ("netbanking", None, None, UnsupportedMethod),
        ],
    )
    async def test_invalid_methods_are_refused_and_nothing_is_written(
        self,
        db: Database,
        make_order: MakeOrder,
        method: str,
        vpa: str | None,
        card: CardInput | None,
        error: type[Exception],
    ) -> None:
        order = await make_order()
        with pytest.raises(error):
            await create(db, order["id"], method, vpa=vpa, card=card)
        async with db.transaction() as conn:
            count = await conn.fetchval(
                "SELECT count(*) FROM payment WHERE order_id = $1", order["id"]
            )
        assert count == 0

    async def test_unknown_or_foreign_orders_are_not_found(
        self,
        db: Database,
        make_order: MakeOrder,
        other_merchant: dict[str, str],
    ) -> None:
        foreign = await make_order(headers=other_merchant)
        for order_id in ("order_0000000000000000", "not-an-order", "../../internal"):
            with pytest.raises(OrderNotFound):
                await create(db, order_id)
        with pytest.raises(OrderNotFound):
            await create(db, foreign["id"])
        public = await create(db, foreign["id"], merchant=None)  # the checkout
        assert (await service.get_payment(db, public["id"])).merchant_id != TEST_MERCHANT

    async def test_an_order_takes_no_more_pending_payments_than_its_cap(
        self, db: Database, make_order: MakeOrder
    ) -> None:
        order = await make_order()
        request = service.NewPayment(order["id"], "upi", "user@paytm", None)

        async def attempt() -> int:
            stored = await service.create_payment(
                db, INSTANT, request, render, merchant_id=None, today=TODAY, max_pending=3
            )
            return stored.status

        assert [await attempt() for _ in range(3)] == [201, 201, 201]
        with pytest.raises(TooManyPendingPayments):
            await attempt()
        async with db.transaction() as conn:
            await conn.execute(
                "UPDATE payment SET status = 'failed' WHERE order_id = $1 AND status = 'pending'"
                " AND id = (SELECT min(id) FROM payment WHERE order_id = $1)",
                order["id"],
            )
        assert await attempt() == 201  # a finished attempt frees its place


def card_numbered(number: str) -> CardInput:
    return CardInput(number, "12", "2030", "123", "Test Card")


RANDOM = ProcessingRules(False, True, 0, 0.9, 0.95, 0, 0)  # test mode off: the random simulation


class TestTestOutcomes:
    """In test mode a documented VPA or card number decides its own payment's outcome, so one
    run sees a success and each decline side by side; everything else follows
    TEST_PAYMENT_SUCCESS."""

    @pytest.mark.parametrize(
        ("vpa", "card", "status", "code"),
        [
            ("failure@test", None, "failed", "PAYMENT_FAILED"),
            (None, "4000000000000002", "failed", "CARD_DECLINED"),
            (None, "4000 0000 0000 9995", "failed", "INSUFFICIENT_FUNDS"),
            (None, "4000000000000069", "failed", "EXPIRED_CARD"),
            ("user@paytm", None, "success", None),  # any other VPA: TEST_PAYMENT_SUCCESS (true)
        ],
    )
    async def test_a_test_vpa_or_card_decides_its_payment_despite_the_setting(
        self,
        db: Database,
        make_order: MakeOrder,
        process: Process,
        vpa: str | None,
        card: str | None,
        status: str,
        code: str | None,
    ) -> None:
        order = await make_order()
        method = "card" if card else "upi"
        payment = await create(
            db, order["id"], method, vpa=vpa, card=card_numbered(card) if card else None
        )
        done = (await process(db, payment["id"]))[payment["id"]]
        assert (done.status.value, done.error_code) == (status, code)
        if code:
            assert done.error_description == FAILURE_REASONS[code]

    async def test_the_success_vpa_and_card_succeed_when_the_setting_says_fail(
        self, db: Database, make_order: MakeOrder, process: Process
    ) -> None:
        by_vpa = await create(db, (await make_order())["id"], vpa="success@test", rules=DECLINE)
        by_card = await create(
            db, (await make_order())["id"], "card", card=card_numbered("4000000000000077"),
            rules=DECLINE,
        )  # fmt: skip
        other = await create(db, (await make_order())["id"], rules=DECLINE)
        ids = (by_vpa["id"], by_card["id"], other["id"])
        done = await process(db, *ids, rules=DECLINE)
        assert [done[i].status.value for i in ids] == ["success", "success", "failed"]

    async def test_outside_test_mode_nothing_is_asked_for(
        self, db: Database, make_order: MakeOrder
    ) -> None:
        payment = await create(db, (await make_order())["id"], vpa="failure@test", rules=RANDOM)
        async with db.transaction() as conn:
            asked = await conn.fetchval(
                "SELECT test_outcome FROM payment WHERE id = $1", payment["id"]
            )
        assert asked is None
        drawn = (
            "success" if RANDOM.outcome_for(payment["id"], PaymentMethod.UPI) else "PAYMENT_FAILED"
        )
        assert RANDOM.outcome(payment["id"], PaymentMethod.UPI, "CARD_DECLINED") == drawn


class TestIdempotency:
    async def test_replay_returns_the_first_response_and_creates_nothing(
        self, db: Database, make_order: MakeOrder
    ) -> None:
        order = await make_order()
        first = await create(db, order["id"], key="key-1")
        again = await create(db, order["id"], key="key-1")
        assert again == first
        async with db.transaction() as conn:
            count = await conn.fetchval(
                "SELECT count(*) FROM payment WHERE order_id = $1", order["id"]
            )
        assert count == 1

    async def test_same_key_different_request_is_refused(
        self, db: Database, make_order: MakeOrder
    ) -> None:
        order = await make_order()
        await create(db, order["id"], key="key-2", vpa="a@bank")
        with pytest.raises(IdempotencyKeyReused):
            await create(db, order["id"], key="key-2", vpa="b@bank")

    async def test_errors_are_not_stored_so_a_corrected_retry_succeeds(
        self, db: Database, make_order: MakeOrder
    ) -> None:
        order = await make_order()
        with pytest.raises(InvalidVpa):
            await create(db, order["id"], key="key-3", vpa="nope")
        assert (await create(db, order["id"], key="key-3"))["status"] == "pending"

    async def test_keys_are_scoped_per_merchant(
        self,
        db: Database,
        make_order: MakeOrder,
        other_merchant: dict[str, str],
    ) -> None:
        mine, theirs = await make_order(), await make_order(headers=other_merchant)
        other_id = UUID(theirs["merchant_id"])
        a = await create(db, mine["id"], key="shared")
        b = await create(db, theirs["id"], key="shared", merchant=other_id)
        assert a["id"] != b["id"]


class TestProcess:
    async def test_the_worker_records_each_outcome_with_its_event_and_never_again(
        self, db: Database, make_order: MakeOrder, process: Process
    ) -> None:
        ok = await create(db, (await make_order())["id"])
        done = await process(db, ok["id"])
        declined = await create(db, (await make_order())["id"])
        failed = await process(db, declined["id"], rules=DECLINE)
        assert done[ok["id"]].status is PaymentStatus.SUCCESS
        assert failed[declined["id"]].status is PaymentStatus.FAILED
        assert (failed[declined["id"]].error_code, failed[declined["id"]].error_description) == (
            "PAYMENT_FAILED",
            "Payment processing failed",
        )
        assert ok["id"] not in await process(db, rules=DECLINE)  # decided once, never re-rolled
        assert (await service.get_payment(db, ok["id"])).status is PaymentStatus.SUCCESS
        kinds = [k for _, _, ks in await outbox_rows(db, ok["id"], declined["id"]) for k in ks]
        assert kinds.count("payment.success") == 2  # webhooks and orders, once each
        assert kinds.count("payment.failed") == 1

    async def test_a_payment_waits_until_it_is_due_and_then_any_worker_finishes_it(
        self, db: Database, make_order: MakeOrder, process: Process
    ) -> None:
        slow = ProcessingRules(True, True, 600_000, 0.9, 0.95, 5000, 10000)  # due in 10 min
        payment = await create(db, (await make_order())["id"], rules=slow)
        assert payment["id"] not in await process(db)
        async with db.transaction() as conn:
            due = await conn.fetchval(
                "SELECT extract(epoch FROM due_at - created_at) FROM payment WHERE id = $1",
                payment["id"],
            )
            assert 599 <= due <= 601
            # Time passes; whichever worker claims next (none holds it in memory) finishes it.
            await conn.execute(
                "UPDATE payment SET due_at = now() - interval '1 second' WHERE id = $1",
                payment["id"],
            )
        assert (await process(db, payment["id"]))[payment["id"]].status is PaymentStatus.SUCCESS

    async def test_simultaneous_payments_of_one_order_one_succeeds_the_other_fails_clearly(
        self, pooled_db: Database, make_order: MakeOrder, process: Process
    ) -> None:
        """A double click, completed by two workers at once: one order is paid, once."""
        for _ in range(5):
            order = await make_order()
            pair = [(await create(pooled_db, order["id"]))["id"] for _ in range(2)]
            runs = await asyncio.gather(process(pooled_db, *pair), process(pooled_db, *pair))
            done = {pid: p for run in runs for pid, p in run.items() if pid in pair}
            outcomes = sorted((p.status.value, p.error_code) for p in done.values())
            assert outcomes == [("failed", "ORDER_ALREADY_PAID"), ("success", None)]

    async def test_an_order_is_never_paid_twice(
        self, db: Database, make_order: MakeOrder, process: Process
    ) -> None:
        order = await make_order()
        first = await create(db, order["id"])
        second = await create(db, order["id"], vpa="other@bank")
        done = await process(db, first["id"], second["id"])
        assert done[first["id"]].status is PaymentStatus.SUCCESS
        late = done[second["id"]]
        assert late.status is PaymentStatus.FAILED
        assert late.error_description == "Order already paid by another payment"
        with pytest.raises(OrderAlreadyPaid):
            await create(db, order["id"])


class TestCapture:
    async def test_capture_once_from_success_only(
        self, db: Database, make_order: MakeOrder, process: Process
    ) -> None:
        created = await create(db, (await make_order(1000))["id"])
        pid = created["id"]
        with pytest.raises(PaymentNotCapturable):
            await service.capture_payment(db, TEST_MERCHANT, pid, None, render)
        await process(db, pid)
        captured = await service.capture_payment(db, TEST_MERCHANT, pid, 1000, render, "cap-1")
        assert captured.status == 200
        assert json.loads(captured.body) == {"id": pid, "status": "success"}
        # A retry with its key replays the first answer; without one it is refused.
        assert await service.capture_payment(db, TEST_MERCHANT, pid, 1000, render, "cap-1") == (
            captured
        )
        with pytest.raises(IdempotencyKeyReused):
            await service.capture_payment(db, TEST_MERCHANT, pid, None, render, "cap-1")
        with pytest.raises(PaymentNotCapturable):
            await service.capture_payment(db, TEST_MERCHANT, pid, None, render)
        with pytest.raises(PaymentNotFound):
            await service.capture_payment(db, UUID(int=1), pid, None, render)
        kinds = [k for _, _, ks in await outbox_rows(db, pid) for k in ks]
        assert kinds.count("payment.captured") == 1


class TestOrders:
    async def test_an_order_is_read_from_the_view_orders_publishes_the_moment_it_exists(
        self, db: Database, make_order: MakeOrder
    ) -> None:
        order = await make_order(3100)  # committed by the orders service, no event awaited
        created = await create(db, order["id"])
        payment = await service.get_payment(db, created["id"])
        assert (payment.amount, payment.currency, payment.merchant_id) == (
            3100,
            "INR",
            TEST_MERCHANT,
        )


class TestRefundsProcessed:
    async def test_processed_refunds_add_up_once_each(
        self, db: Database, make_order: MakeOrder, process: Process
    ) -> None:
        from kit.events import Envelope

        created = await create(db, (await make_order(5000))["id"])
        await process(db, created["id"])
        for n, amount in enumerate((1000, 2500)):
            data = {"id": f"rfnd_{n:016d}", "payment_id": created["id"], "amount": amount}
            event = Envelope.new("refund.processed", TEST_MERCHANT, data)
            await consume_event(db, event.id, event, service.apply_event)
            await consume_event(db, event.id, event, service.apply_event)  # redelivered
        assert (await service.get_payment(db, created["id"])).amount_refunded == 3500
