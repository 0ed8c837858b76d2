"""HTTP routes of the orders service: parse, call service, shape the response."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from kit.app import Db
from kit.auth import CurrentMerchant
from kit.errors import InvalidRequest, Unauthenticated
from kit.http import problems
from kit.idempotency import IdempotencyKey, IdempotencyKeyInUse, IdempotencyKeyReused
from kit.limits import ClientLimited
from kit.paging import NoteQuery, PageQuery
from kit.strings import NotesUpdate, Text
from orders import service
from orders.domain import CurrencyNotEnabled, Order, OrderNotFound
from orders.schemas import (
    OrderCheckout,
    OrderCreate,
    OrderHostedCheckout,
    OrderInternal,
    OrderPublic,
    OrdersPublic,
)

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])
internal = APIRouter(prefix="/internal/v1/orders", tags=["internal"])

OrderIdPath = Annotated[Text, Path(max_length=64)]


def render_order(order: Order) -> bytes:
    return OrderPublic.model_validate(order).model_dump_json().encode()


@router.post(
    "",
    status_code=201,
    response_model=OrderPublic,
    responses=problems(InvalidRequest, Unauthenticated, IdempotencyKeyReused, IdempotencyKeyInUse),
)
async def create_order(
    body: OrderCreate, db: Db, merchant: CurrentMerchant, idempotency_key: IdempotencyKey = None
) -> Response:
    """Create an order for the authenticated merchant.

    With `Idempotency-Key`, a retry within 24 h returns the first response byte for byte.
    A currency outside the merchant's allow-list (`PUT /api/v1/merchant/currencies`) is 400.
    """
    if merchant.currencies is not None and body.currency not in merchant.currencies:
        raise CurrencyNotEnabled(body.currency)
    stored = await service.create_order(
        db, merchant.merchant_id, body.amount, body.currency, body.receipt, body.notes,
        render_order, idempotency_key, body.callback_url,
    )  # fmt: skip
    return Response(stored.body, status_code=stored.status, media_type="application/json")


@router.get("", responses=problems(InvalidRequest, Unauthenticated))
async def list_orders(
    db: Db,
    merchant: CurrentMerchant,
    page: PageQuery,
    note: NoteQuery,
    receipt: Annotated[Text | None, Query(max_length=255)] = None,
) -> OrdersPublic:
    """The merchant's orders, newest first; with `receipt`, those with exactly that receipt.
    Paged by `limit`/`offset` (with a `total`) or by cursor (`starting_after`/`ending_before`,
    stable while orders are added), filtered by `created[gte|gt|lte|lt]` and by a note
    (`note=key:value`)."""
    orders = await service.list_orders(db, merchant.merchant_id, page, receipt, note)
    return OrdersPublic(
        data=[OrderPublic.model_validate(o) for o in orders.items], **orders.fields(page)
    )


@router.post("/{order_id}", responses=problems(OrderNotFound, InvalidRequest, Unauthenticated))
async def update_order(
    order_id: OrderIdPath, body: NotesUpdate, db: Db, merchant: CurrentMerchant
) -> OrderPublic:
    """Replace the order's `notes` (`null` or `{}` removes them); nothing else changes."""
    order = await service.set_notes(db, order_id, merchant.merchant_id, body.notes)
    return OrderPublic.model_validate(order)


@router.get("/{order_id}", responses=problems(OrderNotFound, Unauthenticated))
async def get_order(order_id: OrderIdPath, db: Db, merchant: CurrentMerchant) -> OrderPublic:
    """One of the merchant's orders."""
    return OrderPublic.model_validate(await service.get_order(db, order_id, merchant.merchant_id))


@router.get("/{order_id}/public", responses=problems(OrderNotFound))
async def get_order_for_checkout(order_id: OrderIdPath, db: Db, _: ClientLimited) -> OrderCheckout:
    """What the checkout page shows; no authentication."""
    return OrderCheckout.model_validate(await service.get_order(db, order_id))


@router.get("/{order_id}/checkout", responses=problems(OrderNotFound))
async def get_order_for_hosted_checkout(
    order_id: OrderIdPath, db: Db, _: ClientLimited
) -> OrderHostedCheckout:
    """The checkout's view plus the merchant (to name it) and the order's callback URL; no
    authentication (the contract keeps `/public` to its four fields)."""
    return OrderHostedCheckout.model_validate(await service.get_order(db, order_id))


@internal.get("/{order_id}", responses=problems(OrderNotFound))
async def get_order_internal(order_id: OrderIdPath, db: Db) -> OrderInternal:
    """Amount, currency and merchant of an order, for the payments service."""
    return OrderInternal.model_validate(await service.get_order(db, order_id))
