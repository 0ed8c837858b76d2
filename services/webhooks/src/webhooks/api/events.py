"""The events API: every merchant-facing event kept (for EVENT_RETENTION_DAYS), its
deliveries, and sending it again."""

import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from kit.app import Db
from kit.auth import CurrentMerchant
from kit.errors import InvalidRequest, Unauthenticated
from kit.http import problems
from kit.paging import PageQuery
from kit.strings import Text
from webhooks import service
from webhooks.domain import (
    EndpointNotFound,
    EndpointUnusable,
    Event,
    EventNotFound,
    InvalidWindow,
    Window,
)
from webhooks.schemas import (
    EventDetail,
    EventPublic,
    EventResend,
    EventResent,
    EventsPublic,
    WebhookLog,
)

router = APIRouter(prefix="/api/v1/events", tags=["events"])
EventIdPath = Annotated[Text, Path(max_length=64)]


def _public(event: Event) -> EventPublic:
    return EventPublic(
        id=event.id,
        type=event.type,
        object_id=event.object_id,
        created_at=event.received_at,
        payload=json.loads(event.body),
    )


@router.get("", responses=problems(InvalidRequest, InvalidWindow, Unauthenticated))
async def list_events(
    db: Db,
    merchant: CurrentMerchant,
    page: PageQuery,
    type: Annotated[Text | None, Query(max_length=50, examples=["payment.success"])] = None,
    object_id: Annotated[Text | None, Query(max_length=64)] = None,
    created_from: Annotated[datetime | None, Query(description="Received at or after")] = None,
    created_to: Annotated[datetime | None, Query(description="Received before")] = None,
) -> EventsPublic:
    """The merchant's events, newest first: by type, by the payment/refund/order they are
    about, by when they were received. Paged by `limit`/`offset` or by cursor, filtered by
    `created[gte|gt|lte|lt]` as every list (`created_from`/`created_to` are kept)."""
    window = Window(created_from, created_to)
    events = await service.list_events(db, merchant.merchant_id, type, object_id, window, page)
    return EventsPublic(data=[_public(e) for e in events.items], **events.fields(page))


@router.get("/{event_id}", responses=problems(EventNotFound, Unauthenticated))
async def get_event(event_id: EventIdPath, db: Db, merchant: CurrentMerchant) -> EventDetail:
    """One event, with its delivery to each endpoint."""
    event, deliveries = await service.get_event(db, merchant.merchant_id, event_id)
    return EventDetail(
        **_public(event).model_dump(),
        deliveries=[WebhookLog.model_validate(d) for d in deliveries],
    )


@router.post(
    "/{event_id}/resend",
    responses=problems(EventNotFound, EndpointNotFound, EndpointUnusable, Unauthenticated),
)
async def resend_event(
    event_id: EventIdPath,
    db: Db,
    merchant: CurrentMerchant,
    body: EventResend | None = None,
) -> EventResent:
    """Send the event again from attempt 1: to every enabled endpoint whose filter takes it,
    or to the one endpoint named."""
    endpoint_id = body.endpoint_id if body else None
    deliveries = await service.resend_event(db, merchant.merchant_id, event_id, endpoint_id)
    return EventResent(
        event_id=event_id, deliveries=[WebhookLog.model_validate(d) for d in deliveries]
    )
