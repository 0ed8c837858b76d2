"""The contract's single-URL configuration: the merchant's default endpoint."""

from datetime import timedelta

from fastapi import APIRouter, Request

from kit.app import Db
from kit.auth import CurrentMerchant
from kit.errors import InvalidRequest, Unauthenticated
from kit.http import problems
from webhooks import service
from webhooks.domain import Endpoint, InvalidWebhookUrl, NoWebhookUrl
from webhooks.schemas import SecretRegeneration, WebhookConfig, WebhookConfigUpdate, WebhookLog

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])


def _config(endpoint: Endpoint) -> WebhookConfig:
    return WebhookConfig(webhook_url=endpoint.url, webhook_secret=endpoint.secret)


@router.get("/config", responses=problems(Unauthenticated))
async def get_config(db: Db, merchant: CurrentMerchant) -> WebhookConfig:
    """Where the merchant's webhooks go (the default endpoint), and the secret they are signed
    with."""
    return _config(await service.get_default_endpoint(db, merchant.merchant_id))


@router.put("/config", responses=problems(InvalidWebhookUrl, Unauthenticated))
async def put_config(body: WebhookConfigUpdate, db: Db, merchant: CurrentMerchant) -> WebhookConfig:
    """Set the default endpoint's URL (`null` stops its deliveries)."""
    endpoint = await service.set_url(
        db, merchant.merchant_id, body.webhook_url, merchant.credential
    )
    return _config(endpoint)


@router.post("/regenerate-secret", responses=problems(InvalidRequest, Unauthenticated))
async def regenerate_secret(
    db: Db, merchant: CurrentMerchant, body: SecretRegeneration | None = None
) -> WebhookConfig:
    """A new `whsec_…` signing secret for the default endpoint; the old one stops at once,
    or keeps signing beside it for `expires_in_seconds`."""
    overlap = timedelta(seconds=body.expires_in_seconds if body else 0)
    endpoint = await service.regenerate_secret(
        db, merchant.merchant_id, overlap, merchant.credential
    )
    return _config(endpoint)


@router.post("/test", responses=problems(NoWebhookUrl, Unauthenticated))
async def send_test(request: Request, db: Db, merchant: CurrentMerchant) -> WebhookLog:
    """Send a signed `webhook.test` event to the default endpoint's URL now and return its log."""
    wait = request.state.settings.webhook_test_wait_seconds
    delivery = await service.send_test(db, merchant.merchant_id, wait)
    return WebhookLog.model_validate(delivery)
