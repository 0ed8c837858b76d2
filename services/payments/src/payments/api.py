"""HTTP routes of the payments service: parse, call service, shape the response."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from kit.app import Db
from kit.auth import CurrentMerchant
from kit.errors import InvalidRequest, Unauthenticated, Unavailable
from kit.health import workers_running
from kit.http import problems
from kit.idempotency import IdempotencyKey, IdempotencyKeyInUse, IdempotencyKeyReused
from kit.jobs import job_counts
from kit.limits import ClientLimited
from kit.paging import NoteQuery, PageQuery
from kit.strings import NotesUpdate, Text
from payments import service
from payments.domain import (
    CaptureAmountMismatch,
    ExpiredCard,
    InvalidCard,
    InvalidVpa,
    OrderAlreadyPaid,
    OrderNotFound,
    Payment,
    PaymentNotCapturable,
    PaymentNotFound,
    PaymentStatus,
    TooManyPendingPayments,
)
from payments.schemas import (
    CaptureRequest,
    JobsStatus,
    PaymentCheckout,
    PaymentCreate,
    PaymentCreated,
    PaymentInternal,
    PaymentPublic,
    PaymentsPublic,
    PaymentStats,
)
from payments.settings import Settings

router = APIRouter(prefix="/api/v1/payments", tags=["payments"])
test_router = APIRouter(prefix="/api/v1/test", tags=["test"])
internal = APIRouter(prefix="/internal/v1/payments", tags=["internal"])

PaymentIdPath = Annotated[Text, Path(max_length=64)]
CREATE_ERRORS = (
    InvalidRequest, InvalidVpa, InvalidCard, ExpiredCard, OrderNotFound, TooManyPendingPayments,
    Unavailable,
)  # fmt: skip


def render_created(payment: Payment) -> bytes:
    return PaymentCreated.model_validate(payment).model_dump_json().encode()


def render_payment(payment: Payment) -> bytes:
    return PaymentPublic.model_validate(payment).model_dump_json().encode()


def _new_payment(body: PaymentCreate) -> service.NewPayment:
    card = body.card.to_input() if body.card else None
    return service.NewPayment(body.order_id, body.method, body.vpa, card, body.notes)


@router.post(
    "",
    status_code=201,
    response_model=PaymentCreated,
    responses=problems(*CREATE_ERRORS, OrderAlreadyPaid, Unauthenticated, IdempotencyKeyReused,
                       IdempotencyKeyInUse),
)  # fmt: skip
async def create_payment(
    body: PaymentCreate,
    request: Request,
    db: Db,
    merchant: CurrentMerchant,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Create a payment for one of the merchant's orders; processing happens asynchronously.

    With `Idempotency-Key`, a retry within 24 h returns the first response byte for byte.
    """
    stored = await service.create_payment(
        db,
        request.state.rules,
        _new_payment(body),
        render_created,
        merchant_id=merchant.merchant_id,
        idempotency_key=idempotency_key,
        max_pending=request.state.settings.max_pending_payments_per_order,
    )
    return Response(stored.body, status_code=stored.status, media_type="application/json")


@router.post(
    "/public",
    status_code=201,
    response_model=PaymentCreated,
    responses=problems(*CREATE_ERRORS, OrderAlreadyPaid, IdempotencyKeyReused, IdempotencyKeyInUse),
)
async def create_payment_for_checkout(
    body: PaymentCreate,
    request: Request,
    db: Db,
    _: ClientLimited,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Create a payment from the checkout page: no credentials; the order names the merchant.

    The checkout sends an `Idempotency-Key` per attempt, so a double click makes one payment.
    """
    stored = await service.create_payment(
        db, request.state.rules, _new_payment(body), render_created, merchant_id=None,
        idempotency_key=idempotency_key,
        max_pending=request.state.settings.max_pending_payments_per_order,
    )  # fmt: skip
    return Response(stored.body, status_code=stored.status, media_type="application/json")


@router.get("", responses=problems(InvalidRequest, Unauthenticated))
async def list_payments(
    db: Db,
    merchant: CurrentMerchant,
    page: PageQuery,
    note: NoteQuery,
    status: PaymentStatus | None = None,
    order_id: Annotated[Text | None, Query(max_length=64)] = None,
) -> PaymentsPublic:
    """The merchant's payments, newest first, optionally by status, order or note
    (`note=key:value`); paged by `limit`/`offset` or by cursor, filtered by
    `created[gte|gt|lte|lt]` (as orders)."""
    payments = await service.list_payments(db, merchant.merchant_id, page, status, order_id, note)
    data = [PaymentPublic.model_validate(p) for p in payments.items]
    return PaymentsPublic(data=data, **payments.fields(page))


@router.get("/stats", responses=problems(Unauthenticated))
async def payment_stats(db: Db, merchant: CurrentMerchant) -> PaymentStats:
    """Totals for the dashboard, computed in the database."""
    total, successful, amount = await service.payment_stats(db, merchant.merchant_id)
    rate = round(successful * 100 / total, 2) if total else 0.0
    return PaymentStats(
        total=total, successful=successful, successful_amount=amount, success_rate=rate
    )


@router.get("/{payment_id}", responses=problems(PaymentNotFound, Unauthenticated))
async def get_payment(
    payment_id: PaymentIdPath, db: Db, merchant: CurrentMerchant
) -> PaymentPublic:
    """One of the merchant's payments."""
    return PaymentPublic.model_validate(
        await service.get_payment(db, payment_id, merchant.merchant_id)
    )


@router.post("/{payment_id}", responses=problems(PaymentNotFound, InvalidRequest, Unauthenticated))
async def update_payment(
    payment_id: PaymentIdPath, body: NotesUpdate, db: Db, merchant: CurrentMerchant
) -> PaymentPublic:
    """Replace the payment's `notes` (`null` or `{}` removes them); nothing else changes."""
    payment = await service.set_notes(db, payment_id, merchant.merchant_id, body.notes)
    return PaymentPublic.model_validate(payment)


@router.get("/{payment_id}/public", responses=problems(PaymentNotFound))
async def get_payment_for_checkout(
    payment_id: PaymentIdPath, db: Db, _: ClientLimited
) -> PaymentCheckout:
    """Status for the checkout page to poll; no credentials, no payer details."""
    return PaymentCheckout.model_validate(await service.get_payment(db, payment_id))


@router.post(
    "/{payment_id}/capture",
    response_model=PaymentPublic,
    responses=problems(
        PaymentNotFound, PaymentNotCapturable, CaptureAmountMismatch, Unauthenticated,
        IdempotencyKeyReused, IdempotencyKeyInUse,
    ),
)  # fmt: skip
async def capture_payment(
    payment_id: PaymentIdPath,
    db: Db,
    merchant: CurrentMerchant,
    body: CaptureRequest | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Capture a successful payment, once and in full.

    With `Idempotency-Key`, a retry within 24 h returns the first response byte for byte.
    """
    amount = body.amount if body else None
    stored = await service.capture_payment(
        db, merchant.merchant_id, payment_id, amount, render_payment, idempotency_key
    )
    return Response(stored.body, status_code=stored.status, media_type="application/json")


@test_router.get("/jobs/status")
async def jobs_status(request: Request, db: Db) -> JobsStatus:
    """Jobs waiting, in progress, done and failed across the queues and the payments waiting
    to be processed (not yet due: waiting; due: in progress); worker from its heartbeat."""
    settings: Settings = request.state.settings
    redis = request.state.redis
    counts = await job_counts(redis, settings.job_queues)
    waiting, due = await service.processing_backlog(db)
    counts["pending"] += waiting
    counts["processing"] += due
    running = await workers_running(redis, settings.job_workers)
    return JobsStatus(**counts, worker_status="running" if running else "stopped")


@internal.get("/{payment_id}", responses=problems(PaymentNotFound))
async def get_payment_internal(payment_id: PaymentIdPath, db: Db) -> PaymentInternal:
    """Amount, currency, merchant and status of a payment, for the refunds service."""
    return PaymentInternal.model_validate(await service.get_payment(db, payment_id))
