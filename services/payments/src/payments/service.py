"""Payment use cases; each opens its transactions visibly."""

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Protocol
from uuid import UUID

from asyncpg import Connection

from kit import idempotency, outbox
from kit.db import Database
from kit.events import Envelope
from kit.idempotency import StoredResponse
from payments import events, repository
from payments.domain import (
    ORDER_ALREADY_PAID,
    ORDER_ID_PATTERN,
    CardInput,
    OrderAlreadyPaid,
    OrderNotFound,
    OrderRef,
    Payment,
    PaymentMethod,
    PaymentNotFound,
    PaymentStatus,
    ProcessingRules,
    TooManyPendingPayments,
    UnsupportedMethod,
    check_vpa,
    new_payment_id,
    redacted_card,
    summarize_card,
)
from payments.metrics import PAYMENT_AMOUNT, PAYMENTS, PROCESSING_SECONDS

CREATE_ENDPOINT = "POST /api/v1/payments"
PUBLIC_CREATE_ENDPOINT = "POST /api/v1/payments/public"
CAPTURE_ENDPOINT = "POST /api/v1/payments/{id}/capture"
log = logging.getLogger("payments.service")


class Orders(Protocol):
    async def get_order(self, order_id: str) -> OrderRef | None: ...


@dataclass(frozen=True)
class NewPayment:
    order_id: str
    method: str
    vpa: str | None
    card: CardInput | None

    def fingerprint(self) -> str:
        """Identifies the request for idempotency without any card secret."""
        card = redacted_card(self.card) if self.card else None
        return idempotency.fingerprint([self.order_id, self.method, self.vpa, card])


Render = Callable[[Payment], bytes]


async def create_payment(
    db: Database,
    orders: Orders,
    request: NewPayment,
    render: Render,
    *,
    merchant_id: UUID | None,
    idempotency_key: str | None = None,
    today: date | None = None,
    max_pending: int = 10,
) -> StoredResponse:
    """Validate, insert a pending payment with its events and processing job, answer 201.

    `merchant_id` None is the public checkout (the order's merchant is used, and owns its
    idempotency keys). With a key the first response is stored and replayed; errors are not.
    """

    async def respond(conn: Connection) -> StoredResponse:
        order = await _order_for(conn, orders, request.order_id, merchant_id)
        payment = await _insert_payment(conn, order, request, today, max_pending)
        return StoredResponse(201, render(payment))

    if idempotency_key is None:  # the payment and its messages are one statement
        async with db.connection() as conn:
            return await respond(conn)
    async with db.transaction() as conn:
        scope = merchant_id
        if scope is None:
            scope = (await _order_for(conn, orders, request.order_id, None)).merchant_id
        endpoint = CREATE_ENDPOINT if merchant_id else PUBLIC_CREATE_ENDPOINT
        return await idempotency.once(
            conn, scope, endpoint, idempotency_key, request.fingerprint(), lambda: respond(conn)
        )


async def _order_for(
    conn: Connection, orders: Orders, order_id: str, merchant_id: UUID | None
) -> OrderRef:
    order = await _find_order(conn, orders, order_id)
    if order is None or (merchant_id is not None and order.merchant_id != merchant_id):
        raise OrderNotFound()
    return order


async def _insert_payment(
    conn: Connection, order: OrderRef, request: NewPayment, today: date | None, max_pending: int
) -> Payment:
    vpa, network, last4 = None, None, None
    if request.method == PaymentMethod.UPI:
        vpa = check_vpa(request.vpa)
    elif request.method == PaymentMethod.CARD and request.card is not None:
        summary = summarize_card(request.card, today or datetime.now(UTC).date())
        network, last4 = summary.network, summary.last4
    elif request.method == PaymentMethod.CARD:
        raise UnsupportedMethod("card is required for method card")
    else:
        raise UnsupportedMethod()
    while True:
        now = datetime.now(UTC)
        payment = Payment(
            id=new_payment_id(), order_id=order.id, merchant_id=order.merchant_id,
            amount=order.amount, currency=order.currency, method=PaymentMethod(request.method),
            status=PaymentStatus.PENDING, vpa=vpa, card_network=network, card_last4=last4,
            error_code=None, error_description=None, captured=False, captured_at=None,
            amount_refunded=0, created_at=now, updated_at=now,
        )  # fmt: skip
        messages = events.payment_created(payment)
        if await repository.insert_payment(conn, payment, messages, max_pending):
            break
        if await repository.order_is_paid(conn, order.id):
            raise OrderAlreadyPaid()
        if await repository.pending_payments(conn, order.id) >= max_pending:
            raise TooManyPendingPayments()
        # else the id was taken (astronomically rare): draw again
    PAYMENTS.labels(payment.method.value, payment.status.value).inc()
    log.info("payment created", extra={"payment_id": payment.id, "order_id": payment.order_id,
                                       "method": payment.method.value})  # fmt: skip
    return payment


async def _find_order(conn: Connection, orders: Orders, order_id: str) -> OrderRef | None:
    """From the `order.created` events already seen, else from the orders service (and kept)."""
    if not ORDER_ID_PATTERN.fullmatch(order_id):
        return None
    if order := await repository.get_order_ref(conn, order_id):
        return order
    if order := await orders.get_order(order_id):
        await repository.save_order_ref(conn, order)
    return order


EVENTS_IN = frozenset({"order.created", "refund.processed"})


async def apply_event(conn: Connection, event: Envelope) -> Payment | None:
    """Events payments follows (kit.consumer runs each once, in the transaction that records
    it): `order.created` keeps the order's reference, `refund.processed` adds to the payment's
    `amount_refunded`."""
    data = event.data
    if event.type == "order.created":
        order = OrderRef(str(data["id"]), event.merchant_id, int(data["amount"]),
                         str(data["currency"]))  # fmt: skip
        await repository.save_order_ref(conn, order)
        return None
    if event.type != "refund.processed":
        return None
    payment = await repository.lock_payment(conn, str(data["payment_id"]))
    if payment is None:
        log.warning("refund of an unknown payment", extra={"event_id": event.id})
        return None
    refunded = replace(payment, amount_refunded=payment.amount_refunded + int(data["amount"]))
    return await repository.update_payment(conn, refunded)


async def process_payment(
    db: Database,
    payment_id: str,
    rules: ProcessingRules,
    rng: random.Random,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Payment | None:
    """The worker's job: wait, decide, record the outcome with its event. Safe to run twice."""
    async with db.transaction() as conn:
        payment = await repository.get_payment(conn, payment_id)
    if payment is None or payment.status is not PaymentStatus.PENDING:
        return payment  # a redelivery of a job already done
    await sleep(rules.delay_seconds(rng))
    success = rules.succeeds(payment.method, rng)
    async with db.transaction() as conn:
        payment = await repository.lock_payment(conn, payment_id)
        if payment is None or payment.status is not PaymentStatus.PENDING:
            return payment
        # Two payments of one order (a double click) complete one at a time: the second sees
        # the first's success and fails with a reason, instead of breaking the one-success rule.
        await repository.lock_order(conn, payment.order_id)
        at = await repository.clock(conn)
        if success and await repository.order_is_paid(conn, payment.order_id):
            completed = payment.complete(
                False, at, "Order already paid by another payment", ORDER_ALREADY_PAID
            )
        else:
            completed = payment.complete(success, at)
        done = await repository.update_payment(conn, completed)
        await outbox.add(conn, events.payment_completed(done))
    PAYMENTS.labels(done.method.value, done.status.value).inc()
    PROCESSING_SECONDS.labels(done.method.value, done.status.value).observe(
        (done.updated_at - done.created_at).total_seconds()
    )
    if done.status is PaymentStatus.SUCCESS:
        PAYMENT_AMOUNT.labels(done.currency).inc(done.amount)
    log.info("payment processed", extra={"payment_id": done.id, "status": done.status.value})
    return done


async def requeue_stuck_payments(db: Database, deadline_seconds: float) -> int:
    """Give every payment pending past its deadline its processing job again (the job is
    idempotent, so a slow original does no harm); how many."""
    async with db.transaction() as conn:
        stuck = await repository.claim_stuck_pending(conn, deadline_seconds)
        await outbox.add(conn, [events.process_job(payment_id) for payment_id in stuck])
    if stuck:
        log.warning("requeued stuck payments", extra={"payment_ids": stuck})
    return len(stuck)


async def capture_payment(
    db: Database,
    merchant_id: UUID,
    payment_id: str,
    amount: int | None,
    render: Render,
    idempotency_key: str | None = None,
) -> StoredResponse:
    """Capture a successful payment once, in full; emits `payment.captured`. With a key, a
    retry replays the first 200 instead of answering "not capturable"."""
    async with db.transaction() as conn:

        async def respond() -> StoredResponse:
            payment = await repository.lock_payment(conn, payment_id)
            if payment is None or payment.merchant_id != merchant_id:
                raise PaymentNotFound()
            captured = await repository.update_payment(
                conn, payment.capture(amount, await repository.clock(conn))
            )
            await outbox.add(conn, events.payment_event(events.PAYMENT_CAPTURED, captured))
            return StoredResponse(200, render(captured))

        fingerprint = idempotency.fingerprint([payment_id, amount])
        return await idempotency.once(
            conn, merchant_id, CAPTURE_ENDPOINT, idempotency_key, fingerprint, respond
        )


async def get_payment(db: Database, payment_id: str, merchant_id: UUID | None = None) -> Payment:
    """The payment; another merchant's payment is reported as missing."""
    async with db.transaction() as conn:
        payment = await repository.get_payment(conn, payment_id)
    if payment is None or (merchant_id is not None and payment.merchant_id != merchant_id):
        raise PaymentNotFound()
    return payment


async def list_payments(
    db: Database,
    merchant_id: UUID,
    limit: int,
    offset: int,
    status: PaymentStatus | None = None,
    order_id: str | None = None,
) -> tuple[list[Payment], int]:
    async with db.transaction() as conn:
        return await repository.list_payments(conn, merchant_id, limit, offset, status, order_id)


async def payment_stats(db: Database, merchant_id: UUID) -> tuple[int, int, int]:
    async with db.transaction() as conn:
        return await repository.payment_stats(conn, merchant_id)
