"""Public request/response models of the webhooks service."""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from kit.strings import Text
from kit.timestamps import Timestamp


class WebhookConfig(BaseModel):
    webhook_url: str | None
    webhook_secret: str


class WebhookConfigUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webhook_url: Text | None = Field(max_length=2048, examples=["https://yoursite.com/webhook"])


EventType = Literal[
    "payment.created", "payment.pending", "payment.success", "payment.failed",
    "payment.captured", "refund.created", "refund.processed", "order.paid",
]  # fmt: skip
EndpointUrl = Annotated[Text, Field(max_length=2048, examples=["https://yoursite.com/webhook"])]
Description = Annotated[Text, Field(max_length=200)]
EventTypes = Annotated[
    list[EventType],
    Field(max_length=20, description="Only these events are sent here; empty: every event"),
]


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: EndpointUrl
    description: Description = ""
    event_types: EventTypes = []
    enabled: bool = True


class EndpointUpdate(BaseModel):
    """Only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    url: EndpointUrl | None = Field(default=None, description="null only on the default endpoint")
    description: Description = ""
    event_types: EventTypes = []
    enabled: bool = True


class EndpointPublic(BaseModel):
    """A webhook endpoint. The default one is what /api/v1/webhooks/config shows (its url may
    be null); each endpoint signs with its own secret, shown only when it is created or rotated
    (a leaked API key must not read every signing secret)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    url: str | None
    description: str
    event_types: list[str]
    enabled: bool
    is_default: bool
    previous_secret_expires_at: Timestamp | None = Field(
        description="After a rotation with an overlap: until then the previous secret signs too"
    )
    failing_since: Timestamp | None = Field(
        description="Every attempt has failed since then (null: the last one succeeded)"
    )
    disabled_at: Timestamp | None
    disabled_reason: str | None = Field(
        description="Why it is disabled: by the merchant, or failing for too long"
    )
    created_at: Timestamp
    updated_at: Timestamp


class EndpointWithSecret(EndpointPublic):
    """An endpoint just created or rotated: the only answers that carry its secret."""

    secret: str = Field(description="The `whsec_…` signing secret; not shown again")


class EndpointChangePublic(BaseModel):
    """A change to where webhooks go or how they are signed, and the credential that made it."""

    model_config = ConfigDict(from_attributes=True)

    endpoint_id: str
    change: Literal["created", "url_changed", "secret_rotated", "deleted"]
    url: str | None = Field(description="The endpoint's URL after the change")
    previous_url: str | None = Field(description="Its URL before (url_changed)")
    credential: Literal["api_key", "session"] = Field(
        description="api_key: through the API; session: in the dashboard"
    )
    changed_at: Timestamp


class EndpointChangesPublic(BaseModel):
    data: list[EndpointChangePublic]


class EndpointEnable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    replay: bool = Field(
        default=False,
        description="Also deliver what it missed: every event it takes since it began failing"
        " (or was disabled) that it has not received",
    )


class EndpointEnabled(EndpointPublic):
    replayed: int = Field(description="Deliveries queued by the replay")


class EndpointsPublic(BaseModel):
    data: list[EndpointPublic]
    total: int


OVERLAP_LIMIT = 7 * 86_400


class SecretRotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expires_in_seconds: int = Field(
        default=86_400,
        ge=0,
        le=OVERLAP_LIMIT,
        description="How long the old secret keeps signing beside the new one (default 24 h;"
        " 0: it stops now)",
    )


class SecretRegeneration(BaseModel):
    """The contract's regenerate-secret: without a body, the old secret stops at once."""

    model_config = ConfigDict(extra="forbid")

    expires_in_seconds: int = Field(
        default=0,
        ge=0,
        le=OVERLAP_LIMIT,
        description="How long the old secret keeps signing beside the new one (default 0)",
    )


class WebhookLog(BaseModel):
    """One delivery (the contract's webhook log), linked to its payment or refund."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    event: str
    event_id: str = Field(description="The event delivered (evt_…): GET /api/v1/events/{id}")
    status: str
    attempts: int
    created_at: Timestamp
    last_attempt_at: Timestamp | None
    next_retry_at: Timestamp | None
    response_code: int | None
    response_body: str | None
    payment_id: str | None
    refund_id: str | None
    endpoint_id: str | None = Field(description="null once the endpoint was deleted")


class WebhookLogs(BaseModel):
    data: list[WebhookLog]
    total: int | None = Field(description="Matching deliveries (offset paging; null with a cursor)")
    limit: int
    offset: int
    has_more: bool


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


class EventPublic(BaseModel):
    """A merchant-facing event as kept: `payload` is the exact body its deliveries send."""

    id: str = Field(description="evt_…; also each delivery's `webhook-id`")
    type: str
    object_id: str | None = Field(description="The payment, refund or order it is about")
    created_at: Timestamp = Field(description="When the gateway received it")
    payload: dict[str, Any]


class EventsPublic(BaseModel):
    data: list[EventPublic]
    total: int | None = Field(description="Matching events (offset paging; null with a cursor)")
    limit: int
    offset: int
    has_more: bool


class EventDetail(EventPublic):
    deliveries: list[WebhookLog] = Field(description="One per endpoint it was sent to")


class EventResend(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint_id: Text | None = Field(
        default=None,
        max_length=64,
        description="Only to this endpoint (its filter aside); default: every enabled endpoint"
        " whose filter takes the event",
    )


class EventResent(BaseModel):
    event_id: str
    deliveries: list[WebhookLog] = Field(description="Pending from attempt 1, due now")


class ReplayRequest(BaseModel):
    """Failed deliveries created in [from, to) go back to pending from attempt 1."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: datetime = Field(alias="from", examples=["2026-11-30T00:00:00Z"])
    end: datetime = Field(alias="to", examples=["2026-11-30T12:00:00Z"])
    endpoint_id: Text | None = Field(default=None, max_length=64)


class ReplayScheduled(BaseModel):
    replayed: int = Field(description="Failed deliveries sent again")


class _Exact(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PaymentInWebhook(_Exact):
    """`data.payment`: the contract's fields (`vpa` or card network + last 4), plus the error on
    `payment.failed` and `captured` on `payment.captured`."""

    id: str
    order_id: str
    amount: int
    currency: str
    method: str
    vpa: str | None = None
    card_network: str | None = None
    card_last4: str | None = None
    status: str
    created_at: str
    error_code: str | None = None
    error_description: str | None = None
    captured: bool | None = None
    notes: dict[str, Any] | None = Field(default=None, description="The merchant's own notes")


class RefundInWebhook(_Exact):
    id: str
    payment_id: str
    amount: int
    reason: str | None
    status: str
    created_at: str
    processed_at: str | None
    notes: dict[str, Any] | None = Field(default=None, description="The merchant's own notes")


class OrderInWebhook(_Exact):
    id: str
    amount: int
    currency: str
    receipt: str | None
    notes: dict[str, Any] | None
    status: str
    created_at: str


class OrderWebhookData(_Exact):
    order: OrderInWebhook


class PaymentWebhookData(_Exact):
    payment: PaymentInWebhook


class RefundWebhookData(_Exact):
    refund: RefundInWebhook


class PaymentWebhook(_Exact):
    """The body POSTed for `payment.*` events (compact JSON, exactly these bytes are signed)."""

    event: str = Field(pattern=r"^payment\.(created|pending|success|failed|captured)$")
    timestamp: int = Field(description="Unix seconds when the event happened")
    data: PaymentWebhookData


class RefundWebhook(_Exact):
    """The body POSTed for `refund.*` events."""

    event: str = Field(pattern=r"^refund\.(created|processed)$")
    timestamp: int
    data: RefundWebhookData


class OrderWebhook(_Exact):
    """The body POSTed for `order.paid`."""

    event: str = Field(pattern=r"^order\.paid$")
    timestamp: int
    data: OrderWebhookData
