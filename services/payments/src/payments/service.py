"""Payment use cases; each opens its transactions visibly."""

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from asyncpg import Connection

from kit import idempotency, outbox
from kit.db import Database
from kit.events import Envelope
from kit.idempotency import StoredResponse
from kit.paging import Listed, NoteMatch, Page
from payments import events, repository
from payments.domain import (
    ORDER_ALREADY_PAID,
    ORDER_ID_PATTERN,
    SUCCEEDS,
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
    test_outcome,
)
from payments.metrics import PAYMENT_AMOUNT, PAYMENTS, PROCESSING_SECONDS

CREATE_ENDPOINT = "POST /api/v1/payments"
PUBLIC_CREATE_ENDPOINT = "POST /api/v1/payments/public"
CAPTURE_ENDPOINT = "POST /api/v1/payments/{id}/capture"
log = logging.getLogger("payments.service")


@dataclass(frozen=True)
class NewPayment:
    order_id: str
    method: str
    vpa: str | None
    card: CardInput | None
    notes: dict[str, Any] | None = None

    def fingerprint(self) -> str:
        """Identifies the request for idempotency without any card secret (a key stored
        before notes existed still matches a request without them)."""
        card = redacted_card(self.card) if self.card else None
        notes = [self.notes] if self.notes else []
        return idempotency.fingerprint([self.order_id, self.method, self.vpa, card, *notes])


Render = Callable[[Payment], bytes]


async def create_payment(
    db: Database,
    rules: ProcessingRules,
    request: NewPayment,
    render: Render,
    *,
    merchant_id: UUID | None,
    idempotency_key: str | None = None,
    today: date | None = None,
    max_pending: int = 10,
) -> StoredResponse:
    """Validate, insert a pending payment with its events and the time it is due for
    processing (`rules`), answer 201. The worker claims it from the table when it is due.

    `merchant_id` None is the public checkout (the order's merchant is used, and owns its
    idempotency keys). With a key the first response is stored and replayed; errors are not.
    Two statements either way (the order, then the payment with its messages and its key),
    no transaction around them (kit.idempotency.insert_once).
    """
    async with db.connection() as conn:
        order = await _order_for(conn, request.order_id, merchant_id)
        key = None
        if idempotency_key is not None:
            endpoint = CREATE_ENDPOINT if merchant_id else PUBLIC_CREATE_ENDPOINT
            fingerprint = request.fingerprint()
            key = idempotency.Key(order.merchant_id, endpoint, idempotency_key, fingerprint)
        return await _insert_payment(conn, order, request, today, max_pending, rules, render, key)


async def _order_for(conn: Connection, order_id: str, merchant_id: UUID | None) -> OrderRef:
    """The order from the orders service's published view (ADR 0011); another merchant's
    order is reported as missing."""
    order = None
    if ORDER_ID_PATTERN.fullmatch(order_id):
        order = await repository.get_order_ref(conn, order_id)
    if order is None or (merchant_id is not None and order.merchant_id != merchant_id):
        raise OrderNotFound()
    return order


async def _insert_payment(
    conn: Connection,
    order: OrderRef,
    request: NewPayment,
    today: date | None,
    max_pending: int,
    rules: ProcessingRules,
    render: Render,
    key: idempotency.Key | None,
) -> StoredResponse:
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
    forced = test_outcome(vpa, request.card) if rules.test_mode else None
    while True:
        now = datetime.now(UTC)
        payment = Payment(
            id=new_payment_id(), order_id=order.id, merchant_id=order.merchant_id,
            amount=order.amount, currency=order.currency, method=PaymentMethod(request.method),
            status=PaymentStatus.PENDING, vpa=vpa, card_network=network, card_last4=last4,
            error_code=None, error_description=None, captured=False, captured_at=None,
            amount_refunded=0, created_at=now, updated_at=now, notes=request.notes or {},
        )  # fmt: skip
        messages = events.payment_created(payment)
        delay = rules.delay_for(payment.id)
        response = StoredResponse(201, render(payment))
        if key is None:
            inserted = await repository.insert_payment(
                conn, payment, messages, max_pending, delay, forced
            )
            answer = response if inserted else None
        else:
            answer = await repository.insert_payment_once(
                conn, key, response, payment, messages, max_pending, delay, forced
            )
        if answer is response:
            break
        if answer is not None:
            return answer  # the key's first response, replayed
        if await repository.order_is_paid(conn, order.id):
            raise OrderAlreadyPaid()
        if await repository.pending_payments(conn, order.id) >= max_pending:
            raise TooManyPendingPayments()
        # else the id was taken (astronomically rare): draw again
    PAYMENTS.labels(payment.method.value, payment.status.value).inc()
    log.info("payment created", extra={"payment_id": payment.id, "order_id": payment.order_id,
                                       "method": payment.method.value})  # fmt: skip
    return response


EVENTS_IN = frozenset({"refund.processed"})


async def apply_event(conn: Connection, event: Envelope) -> Payment | None:
    """`refund.processed` adds to the payment's `amount_refunded` (kit.consumer runs each
    event once, in the transaction that records it)."""
    data = event.data
    if event.type != "refund.processed":
        return None
    payment = await repository.lock_payment(conn, str(data["payment_id"]))
    if payment is None:
        log.warning("refund of an unknown payment", extra={"event_id": event.id})
        return None
    refunded = replace(payment, amount_refunded=payment.amount_refunded + int(data["amount"]))
    return await repository.update_payment(conn, refunded)


async def process_due_payments(
    db: Database, rules: ProcessingRules, limit: int = 100
) -> tuple[list[Payment], float | None]:
    """The worker's job: complete a batch of pending payments whose time has come, each with
    its event, in one transaction; (completed, seconds until the next one is due or None).

    Claimed `FOR UPDATE SKIP LOCKED`, so replicas share the work and a crashed worker's batch
    is simply claimed again. The outcome is decided from the payment itself (`rules`), so
    processing it again after a lost commit decides the same; a payment is never re-rolled.
    """
    async with db.transaction() as conn:
        due = await repository.lock_due(conn, limit)
        if not due:
            return [], await repository.next_due_in(conn)
        orders = sorted({p.order_id for p, _ in due})
        # Payments of one order complete one at a time, across replicas too: the second of a
        # double click sees the first's success and fails with a reason.
        await repository.lock_orders(conn, orders)
        paid = await repository.paid_orders(conn, orders)
        at = await repository.clock(conn)
        decided = []
        for payment, asked in due:
            outcome = rules.outcome(payment.id, payment.method, asked)
            if outcome == SUCCEEDS and payment.order_id in paid:
                decided.append(payment.complete(
                    False, at, "Order already paid by another payment", ORDER_ALREADY_PAID
                ))  # fmt: skip
                continue
            decided.append(payment.complete_as(outcome, at))
            if outcome == SUCCEEDS:
                paid.add(payment.order_id)
        done = await repository.complete_payments(conn, decided)
        await outbox.add(conn, [m for p in done for m in events.payment_completed(p)])
    for payment in done:
        PAYMENTS.labels(payment.method.value, payment.status.value).inc()
        PROCESSING_SECONDS.labels(payment.method.value, payment.status.value).observe(
            (payment.updated_at - payment.created_at).total_seconds()
        )
        if payment.status is PaymentStatus.SUCCESS:
            PAYMENT_AMOUNT.labels(payment.currency).inc(payment.amount)
    log.info("payments processed", extra={"payments": {p.id: p.status.value for p in done}})
    return done, 0.0


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


async def set_notes(
    db: Database, payment_id: str, merchant_id: UUID, notes: dict[str, Any] | None
) -> Payment:
    """Replace the payment's notes (none: remove them all); another merchant's is missing."""
    async with db.transaction() as conn:
        payment = await repository.set_notes(conn, payment_id, merchant_id, notes or {})
    if payment is None:
        raise PaymentNotFound()
    return payment


async def list_payments(
    db: Database,
    merchant_id: UUID,
    page: Page,
    status: PaymentStatus | None = None,
    order_id: str | None = None,
    note: NoteMatch | None = None,
) -> Listed[Payment]:
    async with db.transaction() as conn:
        return await repository.list_payments(conn, merchant_id, page, status, order_id, note)


async def payment_stats(db: Database, merchant_id: UUID) -> tuple[int, int, int]:
    async with db.transaction() as conn:
        return await repository.payment_stats(conn, merchant_id)


async def processing_backlog(db: Database) -> tuple[int, int]:
    """(pending payments not yet due, due ones the worker has not completed yet)."""
    async with db.connection() as conn:
        return await repository.processing_backlog(conn)
