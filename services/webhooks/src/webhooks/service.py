"""Webhook use cases: endpoint configuration, event intake, delivery attempts, logs, retries."""

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from asyncpg import Connection

from kit.db import Database
from kit.events import Envelope
from kit.ids import new_id
from webhooks import repository
from webhooks.domain import (
    MAX_ENDPOINTS,
    MERCHANT_EVENTS,
    TEST_EVENT,
    Attempt,
    DefaultEndpointIsKept,
    Delivery,
    DeliveryNotFound,
    DeliveryStatus,
    Endpoint,
    EndpointId,
    EndpointNotFound,
    EndpointUnusable,
    EventLinks,
    NoWebhookUrl,
    Schedule,
    TooManyEndpoints,
    after_attempt,
    check_url,
    event_filter,
    failing_reason,
    new_secret,
    signing_secrets,
    webhook_body,
)
from webhooks.metrics import ATTEMPTS, DELIVERIES, DELIVERY_SECONDS, ENDPOINTS_DISABLED
from webhooks.repository import Claimed

log = logging.getLogger("webhooks.service")


class Sends(Protocol):
    async def send(
        self, url: str, secrets: Sequence[str], message_id: str, body: str
    ) -> Attempt: ...


# ---- endpoints: the default one (the contract's config API) and the others ------------------


async def get_default_endpoint(db: Database, merchant_id: UUID) -> Endpoint:
    """The merchant's default endpoint, created with a new signing secret on first use (this
    service alone holds webhook secrets; the test merchant's is seeded)."""
    async with db.transaction() as conn:
        endpoint = await repository.get_default_endpoint(conn, merchant_id)
    if endpoint is not None:
        return endpoint
    async with db.transaction() as conn:
        return await repository.insert_default_endpoint(
            conn, merchant_id, EndpointId(new_id("ep_")), new_secret()
        )


async def _lock_default(conn: Connection, merchant_id: UUID) -> Endpoint:
    endpoint = await repository.lock_default_endpoint(conn, merchant_id)
    if endpoint is None:
        raise LookupError(f"default endpoint of {merchant_id} vanished")
    return endpoint


async def set_url(db: Database, merchant_id: UUID, url: str | None) -> Endpoint:
    """Set (or, with None, clear) where the default endpoint's webhooks go. Saving a URL
    enables the default endpoint again if it was disabled: the contract's configuration has
    no other way to."""
    url = check_url(url)
    await get_default_endpoint(db, merchant_id)
    async with db.transaction() as conn:
        endpoint = replace(await _lock_default(conn, merchant_id), url=url)
        if url is not None and not endpoint.enabled:
            endpoint = endpoint.reenabled()
        return await repository.update_endpoint(conn, endpoint)


async def regenerate_secret(
    db: Database, merchant_id: UUID, overlap: timedelta = timedelta(0)
) -> Endpoint:
    """A new signing secret for the default endpoint; the old one keeps signing beside it for
    `overlap` (the contract's default: none, it stops at once)."""
    default = await get_default_endpoint(db, merchant_id)
    return await rotate_secret(db, merchant_id, default.id, overlap)


async def rotate_secret(
    db: Database, merchant_id: UUID, endpoint_id: str, overlap: timedelta
) -> Endpoint:
    """A new signing secret; during `overlap` deliveries carry a signature with each secret."""
    async with db.transaction() as conn:
        endpoint = await repository.lock_endpoint(conn, merchant_id, endpoint_id)
        if endpoint is None:
            raise EndpointNotFound()
        rotated = endpoint.rotated(new_secret(), datetime.now(UTC), overlap)
        return await repository.update_endpoint(conn, rotated)


async def list_endpoints(db: Database, merchant_id: UUID) -> list[Endpoint]:
    """Every endpoint of the merchant, the default one first."""
    await get_default_endpoint(db, merchant_id)
    async with db.transaction() as conn:
        return await repository.list_endpoints(conn, merchant_id)


async def get_endpoint(db: Database, merchant_id: UUID, endpoint_id: str) -> Endpoint:
    async with db.transaction() as conn:
        endpoint = await repository.get_endpoint(conn, merchant_id, endpoint_id)
    if endpoint is None:
        raise EndpointNotFound()
    return endpoint


async def create_endpoint(
    db: Database,
    merchant_id: UUID,
    url: str,
    description: str = "",
    event_types: Sequence[str] = (),
    enabled: bool = True,
) -> Endpoint:
    """A new endpoint with its own signing secret (at most MAX_ENDPOINTS per merchant)."""
    endpoint = Endpoint(
        id=EndpointId(new_id("ep_")),
        merchant_id=merchant_id,
        url=check_url(url),
        secret=new_secret(),
        description=description,
        event_types=event_filter(event_types),
        enabled=enabled,
    )
    await get_default_endpoint(db, merchant_id)
    async with db.transaction() as conn:
        await _lock_default(conn, merchant_id)  # serialises the count below per merchant
        if len(await repository.list_endpoints(conn, merchant_id)) >= MAX_ENDPOINTS:
            raise TooManyEndpoints()
        return await repository.insert_endpoint(conn, endpoint)


async def update_endpoint(
    db: Database, merchant_id: UUID, endpoint_id: str, changes: Mapping[str, Any]
) -> Endpoint:
    """Change any of `url`, `description`, `event_types`, `enabled`; an endpoint disabled here
    stops at once (its pending deliveries fail)."""
    async with db.transaction() as conn:
        endpoint = await repository.lock_endpoint(conn, merchant_id, endpoint_id)
        if endpoint is None:
            raise EndpointNotFound()
        updated = endpoint.changed(changes, datetime.now(UTC))
        if endpoint.enabled and not updated.enabled:
            await repository.stop_pending_deliveries(conn, endpoint.id)
        return await repository.update_endpoint(conn, updated)


async def enable_endpoint(
    db: Database, merchant_id: UUID, endpoint_id: str, replay: bool = False
) -> tuple[Endpoint, int]:
    """Enable an endpoint; with `replay`, also deliver what it missed while it failed or was
    disabled (every event it takes since then that it has not received). Returns the endpoint
    and how many deliveries were queued."""
    async with db.transaction() as conn:
        endpoint = await repository.lock_endpoint(conn, merchant_id, endpoint_id)
        if endpoint is None:
            raise EndpointNotFound()
        since = endpoint.missed_since()
        enabled = await repository.update_endpoint(conn, endpoint.reenabled())
        replayed = 0
        if replay and since is not None and enabled.url is not None:
            replayed = await repository.replay_missed(conn, enabled, since)
    return enabled, replayed


async def delete_endpoint(db: Database, merchant_id: UUID, endpoint_id: str) -> None:
    """Delete an endpoint (not the default one); its deliveries stay in the logs, the pending
    ones failed."""
    async with db.transaction() as conn:
        endpoint = await repository.lock_endpoint(conn, merchant_id, endpoint_id)
        if endpoint is None:
            raise EndpointNotFound()
        if endpoint.is_default:
            raise DefaultEndpointIsKept()
        await repository.stop_pending_deliveries(conn, endpoint.id)
        await repository.delete_endpoint(conn, endpoint.id)


# ---- events in ----------------------------------------------------------------------------


EVENTS_IN = MERCHANT_EVENTS


async def receive_event(conn: Connection, event: Envelope) -> list[Delivery]:
    """Keep a merchant-facing event once; queue one delivery per enabled endpoint whose filter
    takes it (kit.consumer runs it once per message, in the transaction that records it)."""
    if event.type not in MERCHANT_EVENTS:
        return []
    body = webhook_body(event.type, event.occurred_at, event.data)
    links = EventLinks.of(event.type, event.data)
    if not await repository.insert_event(
        conn, event.id, event.merchant_id, event.type, body, links
    ):
        return []
    # The contract's FAQ: no URL, no log, no attempt (a default endpoint without one is skipped).
    return [
        await repository.insert_delivery(
            conn,
            event.merchant_id,
            endpoint.id,
            event.id,
            event.type,
            links.payment_id,
            links.refund_id,
        )
        for endpoint in await repository.receiving_endpoints(conn, event.merchant_id)
        if endpoint.receives(event.type)
    ]


# ---- delivery -------------------------------------------------------------------------------


async def claim_due(
    db: Database, busy: list[UUID], per_merchant: int, limit: int, lease_seconds: float
) -> list[Claimed]:
    """Lease due deliveries; first give up on those whose last attempt was never recorded."""
    async with db.transaction() as conn:
        if abandoned := await repository.fail_abandoned(conn):
            DELIVERIES.labels("failed").inc(abandoned)
            log.warning(
                "deliveries failed: last attempt never recorded", extra={"count": abandoned}
            )
        return await repository.claim_due(conn, busy, per_merchant, limit, lease_seconds)


async def attempt_delivery(
    db: Database, sender: Sends, claimed: Claimed, schedule: Schedule
) -> Delivery | None:
    """POST once and record the outcome and the next retry (None if a stale lease lost)."""
    if claimed.url is None or claimed.secret is None:
        attempt = Attempt(None, None, "no webhook URL is configured", 0)
    else:
        secrets = signing_secrets(
            claimed.secret,
            claimed.previous_secret,
            claimed.previous_secret_expires_at,
            datetime.now(UTC),
        )
        attempt = await sender.send(claimed.url, secrets, claimed.event_id, claimed.body)
    at = datetime.now(UTC)
    status, attempts, next_retry_at = after_attempt(
        claimed.attempts, attempt.ok, at, schedule.seconds
    )
    async with db.transaction() as conn:
        delivery = await repository.record_attempt(
            conn, claimed, attempt, at, status, attempts, next_retry_at
        )
        if delivery is not None and claimed.endpoint_id is not None:
            await _judge_endpoint(conn, claimed.endpoint_id, attempt.ok, at, schedule)
    DELIVERY_SECONDS.observe(attempt.duration_ms / 1000)
    outcome = {DeliveryStatus.SUCCESS: "delivered", DeliveryStatus.FAILED: "failed"}.get(
        status, "retrying"
    )
    DELIVERIES.labels(outcome).inc()
    if status is not DeliveryStatus.PENDING:
        ATTEMPTS.observe(attempts)
    details = {"delivery_id": str(claimed.id), "event_id": claimed.event_id, "attempt": attempts}
    details |= {"status": status.value, "code": attempt.response_code, "error": attempt.error}
    details |= {"detail": attempt.detail}  # for operators only: may name internal addresses
    log.info("webhook attempt", extra=details)
    return delivery


async def _judge_endpoint(
    conn: Connection, endpoint_id: EndpointId, ok: bool, at: datetime, schedule: Schedule
) -> None:
    """An endpoint failing every attempt for `schedule.disable_after` is disabled, its pending
    deliveries failed; a success ends its failing streak."""
    if ok:
        await repository.mark_healthy(conn, endpoint_id)
        return
    since = await repository.mark_failing(conn, endpoint_id, at)
    if since is None or at - since < schedule.disable_after:
        return
    endpoint = await repository.lock_endpoint_by_id(conn, endpoint_id)
    if endpoint is None or not endpoint.failing_too_long(at, schedule.disable_after):
        return  # already disabled, or it just succeeded
    reason = failing_reason(since, schedule.disable_after)
    await repository.update_endpoint(conn, endpoint.disabled(reason, at))
    stopped = await repository.stop_pending_deliveries(conn, endpoint_id)
    ENDPOINTS_DISABLED.inc()
    log.warning("webhook endpoint disabled", extra={
        "endpoint_id": endpoint_id, "merchant_id": str(endpoint.merchant_id), "reason": reason,
        "pending_failed": stopped})  # fmt: skip


async def send_test(
    db: Database,
    sender: Sends,
    merchant_id: UUID,
    schedule: Schedule,
    endpoint_id: str | None = None,
) -> Delivery:
    """Send a signed `webhook.test` event now to one endpoint (the default one unless named),
    enabled or not; retried like any other if it fails."""
    if endpoint_id is None:
        endpoint = await get_default_endpoint(db, merchant_id)
    else:
        endpoint = await get_endpoint(db, merchant_id, endpoint_id)
    if endpoint.url is None:
        raise NoWebhookUrl()
    event = Envelope.new(
        TEST_EVENT, merchant_id, {"message": "Test webhook from the payment gateway"}
    )
    body = webhook_body(TEST_EVENT, event.occurred_at, event.data)
    async with db.transaction() as conn:
        await repository.insert_event(conn, event.id, merchant_id, TEST_EVENT, body, EventLinks())
        delivery = await repository.insert_delivery(
            conn, merchant_id, endpoint.id, event.id, TEST_EVENT, None, None
        )
        [claimed] = await repository.claim_due(conn, [], 1, 1, 30.0, only=delivery.id)
    return await attempt_delivery(db, sender, claimed, schedule) or delivery


# ---- logs and manual retry ----------------------------------------------------------------


async def list_deliveries(
    db: Database,
    merchant_id: UUID,
    limit: int,
    offset: int,
    payment_id: str | None = None,
    endpoint_id: str | None = None,
) -> tuple[list[Delivery], int]:
    async with db.transaction() as conn:
        return await repository.list_deliveries(
            conn, merchant_id, limit, offset, payment_id, endpoint_id
        )


async def get_delivery(
    db: Database, merchant_id: UUID, delivery_id: UUID
) -> tuple[Delivery, str, list[dict[str, Any]]]:
    """The delivery, the exact body it sends, and every attempt."""
    async with db.transaction() as conn:
        delivery = await repository.get_delivery(conn, delivery_id)
        if delivery is None or delivery.merchant_id != merchant_id:
            raise DeliveryNotFound()
        body = await repository.get_event_body(conn, delivery.event_id) or ""
        attempts = [dict(r) for r in await repository.list_attempts(conn, delivery_id)]
    return delivery, body, attempts


async def retry_delivery(db: Database, merchant_id: UUID, delivery_id: UUID) -> Delivery:
    """Manual retry: attempts back to 0, pending, due now (not to a disabled or deleted
    endpoint)."""
    async with db.transaction() as conn:
        delivery = await repository.get_delivery(conn, delivery_id)
        if delivery is None or delivery.merchant_id != merchant_id:
            raise DeliveryNotFound()
        endpoint = None
        if delivery.endpoint_id is not None:
            endpoint = await repository.lock_endpoint(conn, merchant_id, delivery.endpoint_id)
        if endpoint is None or not endpoint.enabled:
            raise EndpointUnusable()
        reset = await repository.reset_delivery(conn, delivery_id)
    if reset is None:
        raise DeliveryNotFound()
    return reset
