"""Public and internal request/response models of the orders service."""

from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from kit.strings import Text
from kit.timestamps import Timestamp
from orders.domain import MAX_AMOUNT, MIN_AMOUNT

NoteValue = (
    Annotated[Text, Field(max_length=512)]
    | StrictInt
    | Annotated[float, Field(allow_inf_nan=False)]
    | bool
    | None
)


class OrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Any = Field(description="Integer amount in paise, at least 100", examples=[50000])
    currency: Text = Field(default="INR", pattern=r"^[A-Z]{3}$")
    receipt: Text | None = Field(default=None, max_length=255)
    notes: dict[Annotated[Text, Field(max_length=256)], NoteValue] | None = Field(
        default=None, max_length=15
    )

    @field_validator("amount")
    @classmethod
    def _amount_is_paise(cls, value: Any) -> int:
        # Money is an integer: reject floats, strings and booleans instead of coercing them.
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("amount must be an integer")
        if value < MIN_AMOUNT:
            raise ValueError(f"amount must be at least {MIN_AMOUNT}")
        if value > MAX_AMOUNT:
            raise ValueError(f"amount must be at most {MAX_AMOUNT}")
        return value


class OrderPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    merchant_id: UUID
    amount: int
    currency: str
    receipt: str | None
    notes: dict[str, Any] | None
    status: str
    created_at: Timestamp
    updated_at: Timestamp


class OrdersPublic(BaseModel):
    data: list[OrderPublic]
    total: int
    limit: int
    offset: int


class OrderCheckout(BaseModel):
    """`GET /api/v1/orders/{id}/public`: only what a checkout page may show."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    amount: int
    currency: str
    status: str


class OrderInternal(BaseModel):
    """Internal read model: what payments needs to charge an order."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    merchant_id: UUID
    amount: int
    currency: str
    status: str
