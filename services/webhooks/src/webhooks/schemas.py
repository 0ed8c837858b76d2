"""Public request/response models of the webhooks service."""

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from kit.timestamps import Timestamp


class WebhookConfig(BaseModel):
    webhook_url: str | None
    webhook_secret: str


class WebhookConfigUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webhook_url: str | None = Field(max_length=2048, examples=["https://yoursite.com/webhook"])


class WebhookLog(BaseModel):
    """One delivery (the contract's webhook log), linked to its payment or refund."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    event: str
    status: str
    attempts: int
    created_at: Timestamp
    last_attempt_at: Timestamp | None
    next_retry_at: Timestamp | None
    response_code: int | None
    response_body: str | None
    payment_id: str | None
    refund_id: str | None


class WebhookLogs(BaseModel):
    data: list[WebhookLog]
    total: int
    limit: int
    offset: int


class WebhookAttempt(BaseModel):
    attempt: int
    attempted_at: Timestamp
    url: str | None
    response_code: int | None
    response_body: str | None
    error: str | None
    duration_ms: int


class WebhookLogDetail(WebhookLog):
    payload: dict[str, Any]
    attempt_history: list[WebhookAttempt]


class RetryScheduled(BaseModel):
    id: UUID
    status: str
    message: str = "Webhook retry scheduled"
