"""HTTP routes of the refunds service: parse, call service, shape the response."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, Response

from kit.app import Db
from kit.auth import CurrentMerchant
from kit.errors import InvalidRequest, Unauthenticated, Unavailable
from kit.http import problems
from kit.idempotency import IdempotencyKey, IdempotencyKeyInUse, IdempotencyKeyReused
from kit.paging import NoteQuery, PageQuery
from kit.strings import NotesUpdate, Text
from refunds import service
from refunds.domain import (
    PaymentNotFound,
    PaymentNotRefundable,
    Refund,
    RefundExceedsAvailable,
    RefundNotFound,
)
from refunds.schemas import (
    RefundCreate,
    RefundCreated,
    RefundCreateForPayment,
    RefundPublic,
    RefundsPublic,
)

router = APIRouter(tags=["refunds"])

PaymentIdPath = Annotated[Text, Path(max_length=64)]
RefundIdPath = Annotated[Text, Path(max_length=64)]
CREATE_ERRORS = (
    PaymentNotFound,
    PaymentNotRefundable,
    RefundExceedsAvailable,
    InvalidRequest,
    Unauthenticated,
    IdempotencyKeyReused,
    IdempotencyKeyInUse,
    Unavailable,
)


def render_created(refund: Refund) -> bytes:
    return RefundCreated.model_validate(refund).model_dump_json().encode()


async def _create(
    request: Request,
    db: Db,
    merchant_id: UUID,
    payment_id: str,
    body: RefundCreate,
    key: str | None,
) -> Response:
    stored = await service.create_refund(
        db, request.state.payments, merchant_id, payment_id, body.amount, body.reason,
        render_created, key, body.notes,
    )  # fmt: skip
    return Response(stored.body, status_code=stored.status, media_type="application/json")


@router.post(
    "/api/v1/payments/{payment_id}/refunds",
    status_code=201,
    response_model=RefundCreated,
    responses=problems(*CREATE_ERRORS),
)
async def refund_payment(
    payment_id: PaymentIdPath,
    body: RefundCreate,
    request: Request,
    db: Db,
    merchant: CurrentMerchant,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Refund part or all of a successful payment; several refunds may follow each other."""
    return await _create(request, db, merchant.merchant_id, payment_id, body, idempotency_key)


@router.post(
    "/api/v1/refunds",
    status_code=201,
    response_model=RefundCreated,
    responses=problems(*CREATE_ERRORS),
)
async def create_refund(
    body: RefundCreateForPayment,
    request: Request,
    db: Db,
    merchant: CurrentMerchant,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The same operation with `payment_id` in the body."""
    return await _create(request, db, merchant.merchant_id, body.payment_id, body, idempotency_key)


@router.get(
    "/api/v1/payments/{payment_id}/refunds", responses=problems(InvalidRequest, Unauthenticated)
)
async def list_payment_refunds(
    payment_id: PaymentIdPath,
    db: Db,
    merchant: CurrentMerchant,
    page: PageQuery,
) -> RefundsPublic:
    """A payment's refunds, newest first (paged as every list)."""
    return await list_refunds(db, merchant, page, note=None, payment_id=payment_id)


@router.get("/api/v1/refunds", responses=problems(InvalidRequest, Unauthenticated))
async def list_refunds(
    db: Db,
    merchant: CurrentMerchant,
    page: PageQuery,
    note: NoteQuery,
    payment_id: Annotated[Text | None, Query(max_length=64)] = None,
) -> RefundsPublic:
    """The merchant's refunds, newest first, optionally of one payment or by note
    (`note=key:value`); paged by `limit`/`offset` or by cursor, filtered by
    `created[gte|gt|lte|lt]` (as orders)."""
    refunds = await service.list_refunds(db, merchant.merchant_id, page, payment_id, note)
    data = [RefundPublic.model_validate(r) for r in refunds.items]
    return RefundsPublic(data=data, **refunds.fields(page))


@router.post(
    "/api/v1/refunds/{refund_id}",
    responses=problems(RefundNotFound, InvalidRequest, Unauthenticated),
)
async def update_refund(
    refund_id: RefundIdPath, body: NotesUpdate, db: Db, merchant: CurrentMerchant
) -> RefundPublic:
    """Replace the refund's `notes` (`null` or `{}` removes them); nothing else changes."""
    refund = await service.set_notes(db, refund_id, merchant.merchant_id, body.notes)
    return RefundPublic.model_validate(refund)


@router.get("/api/v1/refunds/{refund_id}", responses=problems(RefundNotFound, Unauthenticated))
async def get_refund(refund_id: RefundIdPath, db: Db, merchant: CurrentMerchant) -> RefundPublic:
    """One of the merchant's refunds."""
    return RefundPublic.model_validate(
        await service.get_refund(db, merchant.merchant_id, refund_id)
    )
