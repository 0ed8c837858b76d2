"""Column lists and row mappers the repository modules share."""

from typing import Any

import asyncpg

from webhooks.domain import (
    Delivery,
    DeliveryStatus,
    Endpoint,
)

DELIVERY_ROW = (
    "id, merchant_id, endpoint_id, event_id, event, payment_id, refund_id, status, attempts,"
    " last_attempt_at, next_retry_at, response_code, response_body, created_at"
)


ENDPOINT_ROW = (
    "id, merchant_id, url, secret, is_default, description, event_types, enabled, created_at,"
    " updated_at, previous_secret, previous_secret_expires_at, failing_since, disabled_at,"
    " disabled_reason"
)


def delivery_of(row: asyncpg.Record | dict[str, Any]) -> Delivery:
    values = dict(row)
    values["status"] = DeliveryStatus(values["status"])
    return Delivery(**values)


def endpoint_of(row: asyncpg.Record) -> Endpoint:
    values = dict(row)
    values["event_types"] = tuple(values["event_types"])
    return Endpoint(**values)
