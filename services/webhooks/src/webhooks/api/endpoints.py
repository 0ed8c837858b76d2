"""Several webhook endpoints per merchant: list, create, read, change, delete, test."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from kit.app import Db
from kit.auth import CurrentMerchant
from kit.errors import InvalidRequest, Unauthenticated
from kit.http import problems
from kit.strings import Text
from webhooks import service
from webhooks.domain import (
    DefaultEndpointIsKept,
    EndpointNotFound,
    InvalidWebhookUrl,
    NoWebhookUrl,
    TooManyEndpoints,
    UnknownEventType,
    UrlRequired,
)
from webhooks.schemas import (
    EndpointChangePublic,
    EndpointChangesPublic,
    EndpointCreate,
    EndpointEnable,
    EndpointEnabled,
    EndpointPublic,
    EndpointsPublic,
    EndpointUpdate,
    EndpointWithSecret,
    SecretRotation,
    WebhookLog,
)

router = APIRouter(prefix="/api/v1/webhooks/endpoints", tags=["webhook endpoints"])

EndpointIdPath = Annotated[Text, Path(max_length=64)]


@router.get("", responses=problems(Unauthenticated))
async def list_endpoints(db: Db, merchant: CurrentMerchant) -> EndpointsPublic:
    """Every endpoint of the merchant, the default one first."""
    endpoints = await service.list_endpoints(db, merchant.merchant_id)
    return EndpointsPublic(
        data=[EndpointPublic.model_validate(e) for e in endpoints], total=len(endpoints)
    )


@router.post(
    "",
    status_code=201,
    responses=problems(InvalidWebhookUrl, UnknownEventType, TooManyEndpoints, Unauthenticated),
)
async def create_endpoint(
    body: EndpointCreate, db: Db, merchant: CurrentMerchant
) -> EndpointWithSecret:
    """A new endpoint with its own `whsec_…` signing secret, shown in this answer only."""
    endpoint = await service.create_endpoint(
        db, merchant.merchant_id, body.url, body.description, body.event_types, body.enabled,
        by=merchant.credential,
    )  # fmt: skip
    return EndpointWithSecret.model_validate(endpoint)


@router.get("/changes", responses=problems(Unauthenticated))
async def list_changes(
    db: Db, merchant: CurrentMerchant, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> EndpointChangesPublic:
    """The latest changes to the merchant's endpoints, newest first: created, URL changed,
    secret rotated, deleted, each with the credential that made it (the API or the dashboard).
    One the merchant did not make is how a leaked API key shows itself."""
    changes = await service.list_changes(db, merchant.merchant_id, limit)
    return EndpointChangesPublic(data=[EndpointChangePublic.model_validate(c) for c in changes])


@router.get("/{endpoint_id}", responses=problems(EndpointNotFound, Unauthenticated))
async def get_endpoint(
    endpoint_id: EndpointIdPath, db: Db, merchant: CurrentMerchant
) -> EndpointPublic:
    """One endpoint."""
    return EndpointPublic.model_validate(
        await service.get_endpoint(db, merchant.merchant_id, endpoint_id)
    )


@router.patch(
    "/{endpoint_id}",
    responses=problems(
        EndpointNotFound, InvalidWebhookUrl, UrlRequired, UnknownEventType, Unauthenticated
    ),
)
async def update_endpoint(
    endpoint_id: EndpointIdPath, body: EndpointUpdate, db: Db, merchant: CurrentMerchant
) -> EndpointPublic:
    """Change the fields sent; `enabled: false` stops the endpoint at once (its pending
    deliveries fail)."""
    changes = body.model_dump(exclude_unset=True)
    endpoint = await service.update_endpoint(
        db, merchant.merchant_id, endpoint_id, changes, by=merchant.credential
    )
    return EndpointPublic.model_validate(endpoint)


@router.post("/{endpoint_id}/enable", responses=problems(EndpointNotFound, Unauthenticated))
async def enable_endpoint(
    endpoint_id: EndpointIdPath,
    db: Db,
    merchant: CurrentMerchant,
    body: EndpointEnable | None = None,
) -> EndpointEnabled:
    """Enable the endpoint again (it is judged afresh); with `replay`, also deliver what it
    missed while it was failing or disabled."""
    replay = body.replay if body else False
    endpoint, replayed = await service.enable_endpoint(
        db, merchant.merchant_id, endpoint_id, replay
    )
    public = EndpointPublic.model_validate(endpoint)
    return EndpointEnabled(**public.model_dump(), replayed=replayed)


@router.delete(
    "/{endpoint_id}",
    status_code=204,
    responses=problems(EndpointNotFound, DefaultEndpointIsKept, Unauthenticated),
)
async def delete_endpoint(
    endpoint_id: EndpointIdPath, db: Db, merchant: CurrentMerchant
) -> Response:
    """Delete an endpoint other than the default one; its logs stay."""
    await service.delete_endpoint(db, merchant.merchant_id, endpoint_id, by=merchant.credential)
    return Response(status_code=204)


@router.post(
    "/{endpoint_id}/rotate-secret",
    responses=problems(EndpointNotFound, InvalidRequest, Unauthenticated),
)
async def rotate_secret(
    endpoint_id: EndpointIdPath,
    db: Db,
    merchant: CurrentMerchant,
    body: SecretRotation | None = None,
) -> EndpointWithSecret:
    """A new `whsec_…` signing secret, shown in this answer only; the old one keeps signing
    beside it for `expires_in_seconds` (default 24 h; 0: it stops now), so receivers can switch
    without dropping a webhook."""
    overlap = timedelta(seconds=(body or SecretRotation()).expires_in_seconds)
    endpoint = await service.rotate_secret(
        db, merchant.merchant_id, endpoint_id, overlap, by=merchant.credential
    )
    return EndpointWithSecret.model_validate(endpoint)


@router.post(
    "/{endpoint_id}/test", responses=problems(EndpointNotFound, NoWebhookUrl, Unauthenticated)
)
async def send_test(
    endpoint_id: EndpointIdPath, request: Request, db: Db, merchant: CurrentMerchant
) -> WebhookLog:
    """Send a signed `webhook.test` event to this endpoint now and return its log."""
    wait = request.state.settings.webhook_test_wait_seconds
    delivery = await service.send_test(db, merchant.merchant_id, wait, endpoint_id)
    return WebhookLog.model_validate(delivery)
