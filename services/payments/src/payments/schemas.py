"""Public request/response models of the payments service."""

from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    SerializerFunctionWrapHandler,
    StrictInt,
    model_serializer,
)

from kit.strings import Notes
from kit.strings import Text as PlainText
from kit.timestamps import Timestamp
from payments.domain import CardInput


def _number_as_text(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


Text = Annotated[PlainText, BeforeValidator(_number_as_text)]


class CardDetails(BaseModel):
    """The card as typed; `number` and `cvv` are secrets that never leave this request."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    number: SecretStr
    expiry_month: Text = Field(max_length=2)
    expiry_year: Text = Field(max_length=4)
    cvv: SecretStr
    holder_name: PlainText = Field(max_length=255)

    def to_input(self) -> CardInput:
        return CardInput(
            number=self.number.get_secret_value(),
            expiry_month=self.expiry_month,
            expiry_year=self.expiry_year,
            cvv=self.cvv.get_secret_value(),
            holder_name=self.holder_name,
        )


class PaymentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    order_id: PlainText = Field(max_length=64, examples=["order_NXhj67fGH2jk9mPq"])
    method: PlainText = Field(max_length=16, description="upi or card", examples=["upi"])
    vpa: PlainText | None = Field(default=None, max_length=255, examples=["user@paytm"])
    card: CardDetails | None = None
    notes: Notes | None = None


class CaptureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: StrictInt | None = Field(default=None, description="Must equal the payment amount")


class _MethodFields(BaseModel):
    """Shows `vpa` for UPI payments and `card_network` + `card_last4` for cards, never both."""

    model_config = ConfigDict(from_attributes=True)

    # No return annotation on purpose: pydantic then keeps the model's own JSON schema.
    @model_serializer(mode="wrap")
    def _only_the_methods_fields(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        data = handler(self)
        drop = ("card_network", "card_last4") if data.get("method") == "upi" else ("vpa",)
        for key in drop:
            data.pop(key, None)
        return data


class PaymentCreated(_MethodFields):
    """`201` of `POST /api/v1/payments`: exactly the contract's fields."""

    id: str
    order_id: str
    amount: int
    currency: str
    method: str
    vpa: str | None = None
    card_network: str | None = None
    card_last4: str | None = None
    status: str
    created_at: Timestamp


class PaymentPublic(_MethodFields):
    """A payment as the merchant sees it (and as payment events carry it)."""

    id: str
    order_id: str
    amount: int
    currency: str
    method: str
    vpa: str | None = None
    card_network: str | None = None
    card_last4: str | None = None
    status: str
    captured: bool
    error_code: str | None
    error_description: str | None
    amount_refunded: int
    created_at: Timestamp
    updated_at: Timestamp
    notes: dict[str, Any] = Field(default_factory=dict, description="Your own notes")


class PaymentsPublic(BaseModel):
    data: list[PaymentPublic]
    total: int | None = Field(description="Matching payments (offset paging; null with a cursor)")
    limit: int
    offset: int
    has_more: bool


class PaymentCheckout(BaseModel):
    """`GET /api/v1/payments/{id}/public`: what the checkout page polls; no payer details."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    order_id: str
    amount: int
    currency: str
    method: str
    status: str
    error_code: str | None
    error_description: str | None
    created_at: Timestamp
    updated_at: Timestamp


class JobsStatus(BaseModel):
    pending: int
    processing: int
    completed: int
    failed: int
    worker_status: str


class PaymentInternal(BaseModel):
    """Internal read model: what refunds needs to know of a payment."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    merchant_id: UUID
    amount: int
    currency: str
    status: str


class PaymentStats(BaseModel):
    """The dashboard's numbers: all payments, the successful ones and their amount."""

    total: int
    successful: int
    successful_amount: int = Field(description="Minor units (paise)")
    success_rate: float = Field(description="successful / total * 100, 0 when there are none")
