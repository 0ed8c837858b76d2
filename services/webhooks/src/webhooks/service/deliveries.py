"""Delivery use cases: claims, attempts and their outcome, endpoint health, logs, retries."""

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from asyncpg import Connection

from kit.batch import Batches
from kit.db import Database
from kit.events import Envelope
from kit.paging import Listed, Page
from webhooks import repository
from webhooks.domain import (
    TEST_EVENT,
    Attempt,
    Delivery,
    DeliveryFilter,
    DeliveryNotFound,
    DeliveryStatus,
    EndpointId,
    EndpointUnusable,
    EventLinks,
    NoWebhookUrl,
    Schedule,
    after_attempt,
    failing_reason,
    signing_secrets,
    webhook_body,
)
from webhooks.metrics import ATTEMPTS, DELIVERIES, DELIVERY_SECONDS, ENDPOINTS_DISABLED
from webhooks.repository import Claimed, Outcome
from webhooks.service.endpoints import get_default_endpoint, get_endpoint

log = logging.getLogger("webhooks.service")


class Sends(Protocol):
    async def send(
        self, url: str, secrets: Sequence[str], message_id: str, body: str, sequence: int | None
    ) -> Attempt: ...


async def claim_due(
    db: Database, busy: list[UUID], per_merchant: int, limit: int, lease_seconds: float
) -> list[Claimed]:
    """Lease due deliveries (see `repository.claim_due`)."""
    async with db.transaction() as conn:
        return await repository.claim_due(conn, busy, per_merchant, limit, lease_seconds)


async def release_held(db: Database) -> int:
    """Make due every held delivery whose earlier events are no longer pending: a repair for a
    release that an intake committing at the same moment as an ending missed (each ending
    releases its own followers at once). A chore, every second."""
    async with db.transaction() as conn:
        return await repository.release_held(conn)


async def fail_abandoned(db: Database) -> int:
    """Give up on deliveries whose last allowed attempt was claimed but never recorded (its
    worker died mid-attempt) once its lease expired; how many. A chore, not part of every
    claim: it reads every pending delivery."""
    async with db.transaction() as conn:
        abandoned = await repository.fail_abandoned(conn)
    if abandoned:
        DELIVERIES.labels("failed").inc(abandoned)
        log.warning("deliveries failed: last attempt never recorded", extra={"count": abandoned})
    return abandoned


class Recorder:
    """Records attempts that finish together in one transaction (`kit.batch`): under load the
    dispatcher's concurrent attempts cost one commit per batch, not one each."""

    def __init__(self, db: Database, schedule: Schedule) -> None:
        self.db = db
        self.schedule = schedule
        self.batches: Batches[Outcome, Delivery | None] = Batches(self.record_all, self._alone)

    async def record(self, outcome: Outcome) -> Delivery | None:
        return await self.batches.run(outcome)

    async def record_all(self, outcomes: list[Outcome]) -> list[Delivery | None]:
        """Store the outcomes and judge their endpoints' health, in one transaction."""
        async with self.db.transaction() as conn:
            recorded = await repository.record_attempts(conn, outcomes)
            ended = {  # what waited for these deliveries may go now (webhooks in order)
                (d.endpoint_id, d.payment_id) for d in recorded
                if d is not None and d.endpoint_id is not None and d.payment_id is not None
                and d.status is not DeliveryStatus.PENDING
            }  # fmt: skip
            if ended:
                await repository.release_held(conn, sorted(ended))
            judged = [
                (d.endpoint_id, o) for o, d in zip(outcomes, recorded, strict=True)
                if d is not None and d.endpoint_id is not None
            ]  # fmt: skip
            judged.sort(key=lambda judging: judging[0])  # replicas lock endpoints in one order
            if healthy := sorted({e for e, o in judged if o.attempt.ok}):
                await repository.mark_healthy(conn, healthy)
            for endpoint_id, o in judged:
                if not o.attempt.ok:
                    await _judge_failure(conn, endpoint_id, o.at, self.schedule)
        return recorded

    async def _alone(self, outcome: Outcome) -> Delivery | None:
        [recorded] = await self.record_all([outcome])
        return recorded


async def attempt_delivery(
    db: Database,
    sender: Sends,
    claimed: Claimed,
    schedule: Schedule,
    recorder: Recorder | None = None,
) -> Delivery | None:
    """POST once and record the outcome and the next retry (None if a stale lease lost);
    with `recorder`, in a batch with other attempts that finish at the same time."""
    if claimed.url is None or claimed.secret is None:
        attempt = Attempt(None, None, "no webhook URL is configured", 0)
    else:
        secrets = signing_secrets(
            claimed.secret,
            claimed.previous_secret,
            claimed.previous_secret_expires_at,
            datetime.now(UTC),
        )
        attempt = await sender.send(
            claimed.url, secrets, claimed.event_id, claimed.body, claimed.sequence
        )
    at = datetime.now(UTC)
    status, attempts, next_retry_at = after_attempt(
        claimed.attempts, attempt.ok, at, schedule.seconds
    )
    outcome = Outcome(claimed, attempt, at, status, attempts, next_retry_at)
    delivery = await (recorder or Recorder(db, schedule)).record(outcome)
    DELIVERY_SECONDS.observe(attempt.duration_ms / 1000)
    details = {"delivery_id": str(claimed.id), "event_id": claimed.event_id, "attempt": attempts}
    details |= {"code": attempt.response_code, "error": attempt.error}
    details |= {"detail": attempt.detail}  # for operators only: may name internal addresses
    if delivery is None:  # in its history, but a retry, resend or newer lease owns the state
        log.info("webhook attempt superseded", extra=details)
        return None
    outcome_name = {DeliveryStatus.SUCCESS: "delivered", DeliveryStatus.FAILED: "failed"}.get(
        status, "retrying"
    )
    DELIVERIES.labels(outcome_name).inc()
    if status is not DeliveryStatus.PENDING:
        ATTEMPTS.observe(attempts)
    log.info("webhook attempt", extra=details | {"status": status.value})
    return delivery


async def _judge_failure(
    conn: Connection, endpoint_id: EndpointId, at: datetime, schedule: Schedule
) -> None:
    """An endpoint failing every attempt for `schedule.disable_after` is disabled, its pending
    deliveries failed (a success ends its failing streak: `repository.mark_healthy`)."""
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
    db: Database, merchant_id: UUID, wait_seconds: float, endpoint_id: str | None = None
) -> Delivery:
    """Queue a signed `webhook.test` event to one endpoint (the default one unless named),
    enabled or not, due now, and return its delivery once the worker's first attempt is
    recorded, or as it stands after `wait_seconds` (still pending: the worker is busy or down).
    The worker sends it, not this process: only the worker's egress reaches merchants' URLs.
    Retried like any other if it fails."""
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
            conn, merchant_id, endpoint.id, event.id, TEST_EVENT, EventLinks()
        )
    deadline = asyncio.get_running_loop().time() + wait_seconds
    pause = 0.02
    while delivery.last_attempt_at is None and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.25)
        async with db.transaction() as conn:
            delivery = await repository.get_delivery(conn, delivery.id) or delivery
    return delivery


async def list_deliveries(
    db: Database,
    merchant_id: UUID,
    page: Page,
    only: DeliveryFilter | None = None,
) -> Listed[Delivery]:
    async with db.transaction() as conn:
        return await repository.list_deliveries(conn, merchant_id, page, only or DeliveryFilter())


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
