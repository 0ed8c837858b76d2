"""Refund use cases; each opens its transactions visibly."""

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from asyncpg import Connection

from kit import idempotency, outbox
from kit.db import Database
from kit.idempotency import StoredResponse
from kit.paging import Listed, NoteMatch, Page
from refunds import events, repository
from refunds.domain import (
    Balance,
    PaymentNotFound,
    PaymentNotRefundable,
    PaymentRef,
    Refund,
    RefundNotFound,
    RefundStatus,
    RefundTiming,
    new_refund_id,
)
from refunds.metrics import REFUNDED_AMOUNT, REFUNDS

CREATE_ENDPOINT = "POST /api/v1/refunds"  # both paths are one operation for idempotency
log = logging.getLogger("refunds.service")


class Payments(Protocol):
    async def get_payment(self, payment_id: str) -> PaymentRef | None: ...


Render = Callable[[Refund], bytes]


async def _balance(
    conn: Connection, payments: Payments, payment_id: str, merchant_id: UUID
) -> Balance:
    """The payment's balance, locked; started from the payments service at its first refund
    (ADR 0011: refunds subscribes to no payment event; a payment that is never refunded costs
    this service nothing)."""
    balance = await repository.lock_balance(conn, payment_id)
    if balance is None:
        payment = await payments.get_payment(payment_id)
        if payment is None or payment.merchant_id != merchant_id:
            raise PaymentNotFound()
        if payment.status != "success":
            raise PaymentNotRefundable()
        await repository.save_balance(conn, payment)
        balance = await repository.lock_balance(conn, payment_id)
        if balance is None:
            raise LookupError(f"balance of {payment_id} vanished")
    if balance.merchant_id != merchant_id:
        raise PaymentNotFound()
    return balance


async def create_refund(
    db: Database,
    payments: Payments,
    merchant_id: UUID,
    payment_id: str,
    amount: int,
    reason: str | None,
    render: Render,
    idempotency_key: str | None = None,
    notes: dict[str, Any] | None = None,
) -> StoredResponse:
    """Reserve the amount on the payment's locked balance and queue the refund.

    Concurrent refunds of one payment wait on the balance row, so the sum of pending and
    processed refunds never exceeds the payment. Errors are not stored as the key's answer.
    """
    async with db.transaction() as conn:

        async def respond() -> StoredResponse:
            balance = await _balance(conn, payments, payment_id, merchant_id)
            await repository.update_balance(conn, balance.reserve(amount))
            refund = None
            while refund is None:  # an id collision is astronomically rare; draw again
                draft = Refund(
                    new_refund_id(), payment_id, merchant_id, amount, balance.currency, reason,
                    RefundStatus.PENDING, datetime.now(UTC), None, notes or {},
                )  # fmt: skip
                refund = await repository.insert_refund(conn, draft)
            await outbox.add(conn, events.refund_created(refund))
            REFUNDS.labels(RefundStatus.PENDING.value).inc()
            log.info("refund created", extra={"refund_id": refund.id, "payment_id": payment_id})
            return StoredResponse(201, render(refund))

        # (a key stored before notes existed still matches a request without them)
        fingerprint = idempotency.fingerprint(
            [payment_id, amount, reason, *([notes] if notes else [])]
        )
        return await idempotency.once(
            conn, merchant_id, CREATE_ENDPOINT, idempotency_key, fingerprint, respond
        )


async def set_notes(
    db: Database, refund_id: str, merchant_id: UUID, notes: dict[str, Any] | None
) -> Refund:
    """Replace the refund's notes (none: remove them all); another merchant's is missing."""
    async with db.transaction() as conn:
        refund = await repository.set_notes(conn, refund_id, merchant_id, notes or {})
    if refund is None:
        raise RefundNotFound()
    return refund


async def process_refund(
    db: Database,
    refund_id: str,
    timing: RefundTiming,
    rng: random.Random,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Refund | None:
    """The worker's job: wait, then mark processed with its event. Safe to run twice."""
    async with db.transaction() as conn:
        refund = await repository.get_refund(conn, refund_id)
    if refund is None or refund.status is RefundStatus.PROCESSED:
        return refund
    await sleep(timing.delay_seconds(rng))
    async with db.transaction() as conn:
        refund = await repository.lock_refund(conn, refund_id)
        if refund is None or refund.status is RefundStatus.PROCESSED:
            return refund
        balance = await repository.lock_balance(conn, refund.payment_id)
        if balance is None or balance.refunded > balance.amount:  # the invariant, re-checked
            raise RuntimeError(f"balance of {refund.payment_id} is inconsistent")
        done = await repository.mark_processed(conn, refund_id)
        await outbox.add(conn, events.refund_event(events.REFUND_PROCESSED, done))
    REFUNDS.labels(RefundStatus.PROCESSED.value).inc()
    REFUNDED_AMOUNT.labels(done.currency).inc(done.amount)
    log.info("refund processed", extra={"refund_id": done.id, "payment_id": done.payment_id})
    return done


async def requeue_stuck_refunds(db: Database, deadline_seconds: float) -> int:
    """Give every refund pending past its deadline its processing job again (idempotent)."""
    async with db.transaction() as conn:
        stuck = await repository.claim_stuck_pending(conn, deadline_seconds)
        await outbox.add(conn, [events.process_job(refund_id) for refund_id in stuck])
    if stuck:
        log.warning("requeued stuck refunds", extra={"refund_ids": stuck})
    return len(stuck)


async def get_refund(db: Database, merchant_id: UUID, refund_id: str) -> Refund:
    async with db.transaction() as conn:
        refund = await repository.get_refund(conn, refund_id)
    if refund is None or refund.merchant_id != merchant_id:
        raise RefundNotFound()
    return refund


async def list_refunds(
    db: Database,
    merchant_id: UUID,
    page: Page,
    payment_id: str | None = None,
    note: NoteMatch | None = None,
) -> Listed[Refund]:
    async with db.transaction() as conn:
        return await repository.list_refunds(conn, merchant_id, page, payment_id, note)
