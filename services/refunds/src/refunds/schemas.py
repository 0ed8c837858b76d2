"""Public request/response models of the refunds service."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kit.strings import Notes, Text
from kit.timestamps import Timestamp


class RefundCreate(BaseModel):
    """`POST /api/v1/payments/{payment_id}/refunds`."""

    model_config = ConfigDict(extra="forbid")

    amount: Any = Field(description="Integer amount in paise, more than 0", examples=[50000])
    reason: Text | None = Field(default=None, max_length=500)
    notes: Notes | None = None

    @field_validator("amount")
    @classmethod
    def _amount_is_paise(cls, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("amount must be an integer")
        if value <= 0:
            raise ValueError("amount must be greater than 0")
        return value


class RefundCreateForPayment(RefundCreate):
    """`POST /api/v1/refunds`: the same, naming the payment in the body."""

    payment_id: Text = Field(max_length=64)


class RefundPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    payment_id: str
    amount: int
    reason: str | None
    status: str
    created_at: Timestamp
    processed_at: Timestamp | None
    notes: dict[str, Any] = Field(default_factory=dict, description="Your own notes")


class RefundsPublic(BaseModel):
    data: list[RefundPublic]
    total: int | None = Field(description="Matching refunds (offset paging; null with a cursor)")
    limit: int
    offset: int
    has_more: bool


class RefundCreated(BaseModel):
    """`201` of a refund create: exactly the contract's fields."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    payment_id: str
    amount: int
    reason: str | None
    status: str
    created_at: Timestamp
