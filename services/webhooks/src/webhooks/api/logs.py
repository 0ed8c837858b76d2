"""Delivery logs (the contract's webhook logs) and manual retries."""

import json
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from kit.app import Db
from kit.auth import CurrentMerchant
from kit.errors import InvalidRequest, Unauthenticated
from kit.http import problems
from kit.paging import PageQuery
from kit.strings import Text
from webhooks import service
from webhooks.domain import (
    DeliveryFilter,
    DeliveryNotFound,
    DeliveryStatus,
    EndpointNotFound,
    EndpointUnusable,
    InvalidWindow,
    Window,
)
from webhooks.schemas import (
    ReplayRequest,
    ReplayScheduled,
    RetryScheduled,
    WebhookLog,
    WebhookLogDetail,
    WebhookLogs,
)

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])


@router.get("", responses=problems(InvalidRequest, Unauthenticated))
async def list_logs(
    db: Db,
    merchant: CurrentMerchant,
    page: PageQuery,
    payment_id: Annotated[Text | None, Query(max_length=64)] = None,
    endpoint_id: Annotated[Text | None, Query(max_length=64)] = None,
    status: DeliveryStatus | None = None,
    event: Annotated[Text | None, Query(max_length=50)] = None,
) -> WebhookLogs:
    """The merchant's webhook deliveries, newest first; each filter given narrows them: one
    payment, one endpoint, one status, one event type. Paged by `limit`/`offset` or by cursor,
    filtered by `created[gte|gt|lte|lt]` (as orders)."""
    only = DeliveryFilter(payment_id, endpoint_id, status, event)
    deliveries = await service.list_deliveries(db, merchant.merchant_id, page, only)
    data = [WebhookLog.model_validate(d) for d in deliveries.items]
    return WebhookLogs(data=data, **deliveries.fields(page))


@router.post(
    "/replay",
    responses=problems(InvalidWindow, EndpointNotFound, EndpointUnusable, Unauthenticated),
)
async def replay(body: ReplayRequest, db: Db, merchant: CurrentMerchant) -> ReplayScheduled:
    """Send again every failed delivery created in [from, to), to one endpoint or to every
    enabled one: attempts back to 0, pending, due now."""
    window = Window(body.start, body.end)
    replayed = await service.replay_failed(db, merchant.merchant_id, window, body.endpoint_id)
    return ReplayScheduled(replayed=replayed)


@router.get("/{webhook_id}", responses=problems(DeliveryNotFound, Unauthenticated))
async def get_log(webhook_id: UUID, db: Db, merchant: CurrentMerchant) -> WebhookLogDetail:
    """One delivery with the exact payload it sends and every attempt."""
    delivery, body, attempts = await service.get_delivery(db, merchant.merchant_id, webhook_id)
    log = WebhookLog.model_validate(delivery)
    return WebhookLogDetail(**log.model_dump(), payload=json.loads(body), attempt_history=attempts)


@router.post(
    "/{webhook_id}/retry", responses=problems(DeliveryNotFound, EndpointUnusable, Unauthenticated)
)
async def retry(webhook_id: UUID, db: Db, merchant: CurrentMerchant) -> RetryScheduled:
    """Deliver again from scratch: attempts back to 0, pending, due now."""
    delivery = await service.retry_delivery(db, merchant.merchant_id, webhook_id)
    return RetryScheduled(id=delivery.id, status=delivery.status.value)
