"""HTTP routes of the webhooks service: parse, call service, shape the response."""

import json
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request

from kit.app import Db
from kit.auth import CurrentMerchant
from kit.errors import InvalidRequest, Unauthenticated
from kit.http import problems
from kit.strings import Text
from webhooks import service
from webhooks.domain import DeliveryNotFound, Endpoint, InvalidWebhookUrl, NoWebhookUrl
from webhooks.schemas import (
    RetryScheduled,
    WebhookConfig,
    WebhookConfigUpdate,
    WebhookLog,
    WebhookLogDetail,
    WebhookLogs,
)

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])


def _config(endpoint: Endpoint) -> WebhookConfig:
    return WebhookConfig(webhook_url=endpoint.url, webhook_secret=endpoint.secret)


@router.get("/config", responses=problems(Unauthenticated))
async def get_config(request: Request, db: Db, merchant: CurrentMerchant) -> WebhookConfig:
    """Where the merchant's webhooks go, and the secret they are signed with."""
    return _config(await service.get_endpoint(db, merchant.merchant_id))


@router.put("/config", responses=problems(InvalidWebhookUrl, Unauthenticated))
async def put_config(
    body: WebhookConfigUpdate, request: Request, db: Db, merchant: CurrentMerchant
) -> WebhookConfig:
    """Set the webhook URL (`null` stops deliveries)."""
    endpoint = await service.set_url(db, merchant.merchant_id, body.webhook_url)
    return _config(endpoint)


@router.post("/regenerate-secret", responses=problems(Unauthenticated))
async def regenerate_secret(request: Request, db: Db, merchant: CurrentMerchant) -> WebhookConfig:
    """A new `whsec_…` signing secret; the old one stops at once."""
    return _config(await service.regenerate_secret(db, merchant.merchant_id))


@router.post("/test", responses=problems(NoWebhookUrl, Unauthenticated))
async def send_test(request: Request, db: Db, merchant: CurrentMerchant) -> WebhookLog:
    """Send a signed `webhook.test` event to the configured URL now and return its log."""
    state = request.state
    delivery = await service.send_test(db, state.sender, merchant.merchant_id, state.schedule)
    return WebhookLog.model_validate(delivery)


@router.get("", responses=problems(InvalidRequest, Unauthenticated))
async def list_logs(
    db: Db,
    merchant: CurrentMerchant,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    payment_id: Annotated[Text | None, Query(max_length=64)] = None,
) -> WebhookLogs:
    """The merchant's webhook deliveries, newest first, optionally of one payment."""
    deliveries, total = await service.list_deliveries(
        db, merchant.merchant_id, limit, offset, payment_id
    )
    data = [WebhookLog.model_validate(d) for d in deliveries]
    return WebhookLogs(data=data, total=total, limit=limit, offset=offset)


@router.get("/{webhook_id}", responses=problems(DeliveryNotFound, Unauthenticated))
async def get_log(webhook_id: UUID, db: Db, merchant: CurrentMerchant) -> WebhookLogDetail:
    """One delivery with the exact payload it sends and every attempt."""
    delivery, body, attempts = await service.get_delivery(db, merchant.merchant_id, webhook_id)
    log = WebhookLog.model_validate(delivery)
    return WebhookLogDetail(**log.model_dump(), payload=json.loads(body), attempt_history=attempts)


@router.post("/{webhook_id}/retry", responses=problems(DeliveryNotFound, Unauthenticated))
async def retry(webhook_id: UUID, db: Db, merchant: CurrentMerchant) -> RetryScheduled:
    """Deliver again from scratch: attempts back to 0, pending, due now."""
    delivery = await service.retry_delivery(db, merchant.merchant_id, webhook_id)
    return RetryScheduled(id=delivery.id, status=delivery.status.value)
