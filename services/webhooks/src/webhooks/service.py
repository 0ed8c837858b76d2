"""Webhook use cases: endpoint configuration, event intake, delivery attempts, logs, retries."""

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from asyncpg import Connection

from kit.db import Database
from kit.events import Envelope
from webhooks import repository
from webhooks.domain import (
    MERCHANT_EVENTS,
    PRODUCTION_SCHEDULE,
    TEST_EVENT,
    TEST_SCHEDULE,
    Attempt,
    Delivery,
    DeliveryNotFound,
    DeliveryStatus,
    Endpoint,
    NoWebhookUrl,
    after_attempt,
    check_url,
    new_secret,
    webhook_body,
)
from webhooks.metrics import ATTEMPTS, DELIVERIES, DELIVERY_SECONDS
from webhooks.repository import Claimed

log = logging.getLogger("webhooks.service")


class Sends(Protocol):
    async def send(self, url: str, secret: str, message_id: str, body: str) -> Attempt: ...


@dataclass(frozen=True)
class Schedule:
    seconds: tuple[int, ...]

    @classmethod
    def of(cls, test_intervals: bool) -> "Schedule":
        return cls(TEST_SCHEDULE if test_intervals else PRODUCTION_SCHEDULE)


# ---- endpoint configuration -------------------------------------------------------------


async def get_endpoint(db: Database, merchant_id: UUID) -> Endpoint:
    """The merchant's endpoint, created with a new signing secret on first use (this service
    alone holds webhook secrets; the test merchant's is seeded)."""
    async with db.transaction() as conn:
        endpoint = await repository.get_endpoint(conn, merchant_id)
    if endpoint is not None:
        return endpoint
    async with db.transaction() as conn:
        return await repository.insert_endpoint(conn, merchant_id, new_secret())


async def set_url(db: Database, merchant_id: UUID, url: str | None) -> Endpoint:
    """Set (or, with None, clear) where the merchant's webhooks go."""
    url = check_url(url)
    endpoint = replace(await get_endpoint(db, merchant_id), url=url)
    async with db.transaction() as conn:
        await repository.update_endpoint(conn, endpoint)
    return endpoint


async def regenerate_secret(db: Database, merchant_id: UUID) -> Endpoint:
    """A new signing secret; the old one stops working at once."""
    endpoint = replace(await get_endpoint(db, merchant_id), secret=new_secret())
    async with db.transaction() as conn:
        await repository.update_endpoint(conn, endpoint)
    return endpoint


# ---- events in ----------------------------------------------------------------------------


EVENTS_IN = MERCHANT_EVENTS


async def receive_event(conn: Connection, event: Envelope) -> Delivery | None:
    """Keep a merchant-facing event once; queue a delivery if the merchant has a URL (kit.consumer
    runs it once per message, in the transaction that records it)."""
    if event.type not in MERCHANT_EVENTS:
        return None
    body = webhook_body(event.type, event.occurred_at, event.data)
    if not await repository.insert_event(conn, event.id, event.merchant_id, event.type, body):
        return None
    endpoint = await repository.get_endpoint(conn, event.merchant_id)
    if endpoint is None or endpoint.url is None:
        return None  # the contract's FAQ: no URL, no log, no attempt
    payment_id, refund_id = _links(event.type, event.data)
    return await repository.insert_delivery(
        conn, event.merchant_id, event.id, event.type, payment_id, refund_id
    )


def _links(event_type: str, data: dict[str, Any]) -> tuple[str | None, str | None]:
    if event_type.startswith("refund."):
        return data.get("payment_id"), data.get("id")
    if event_type.startswith("order."):
        return None, None
    return data.get("id"), None


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
    if claimed.url is None:
        attempt = Attempt(None, None, "no webhook URL is configured", 0)
    else:
        attempt = await sender.send(claimed.url, claimed.secret, claimed.event_id, claimed.body)
    at = datetime.now(UTC)
    status, attempts, next_retry_at = after_attempt(
        claimed.attempts, attempt.ok, at, schedule.seconds
    )
    async with db.transaction() as conn:
        delivery = await repository.record_attempt(
            conn, claimed, attempt, at, status, attempts, next_retry_at
        )
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


async def send_test(db: Database, sender: Sends, merchant_id: UUID, schedule: Schedule) -> Delivery:
    """Send a signed `webhook.test` event now; retried like any other if it fails."""
    endpoint = await get_endpoint(db, merchant_id)
    if endpoint.url is None:
        raise NoWebhookUrl()
    event = Envelope.new(
        TEST_EVENT, merchant_id, {"message": "Test webhook from the payment gateway"}
    )
    body = webhook_body(TEST_EVENT, event.occurred_at, event.data)
    async with db.transaction() as conn:
        await repository.insert_event(conn, event.id, merchant_id, TEST_EVENT, body)
        delivery = await repository.insert_delivery(
            conn, merchant_id, event.id, TEST_EVENT, None, None
        )
        [claimed] = await repository.claim_due(conn, [], 1, 1, 30.0, only=delivery.id)
    return await attempt_delivery(db, sender, claimed, schedule) or delivery


# ---- logs and manual retry ----------------------------------------------------------------


async def list_deliveries(
    db: Database, merchant_id: UUID, limit: int, offset: int, payment_id: str | None = None
) -> tuple[list[Delivery], int]:
    async with db.transaction() as conn:
        return await repository.list_deliveries(conn, merchant_id, limit, offset, payment_id)


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
    """Manual retry: attempts back to 0, pending, due now."""
    async with db.transaction() as conn:
        delivery = await repository.get_delivery(conn, delivery_id)
        if delivery is None or delivery.merchant_id != merchant_id:
            raise DeliveryNotFound()
        reset = await repository.reset_delivery(conn, delivery_id)
    if reset is None:
        raise DeliveryNotFound()
    return reset
