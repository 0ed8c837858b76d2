"""Public and internal request/response models of the orders service."""

from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kit.currencies import IN_USE, minimum_charge
from kit.strings import Notes, Text
from kit.timestamps import Timestamp
from orders.domain import MAX_AMOUNT, MAX_CALLBACK_URL


class OrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Any = Field(
        description="Integer amount in the currency's minor units (paise for INR), at least one"
        " major unit: 100 for INR and USD, 1 for JPY, 1000 for KWD",
        examples=[50000],
    )
    currency: Text = Field(
        default="INR",
        pattern=r"^[A-Z]{3}$",
        description="An ISO 4217 code of a currency in use (CLDR's data), such as INR or USD",
    )
    receipt: Text | None = Field(default=None, max_length=255)
    notes: Notes | None = None
    callback_url: Text | None = Field(
        default=None,
        max_length=MAX_CALLBACK_URL,
        description="Where the hosted checkout sends the customer after a successful payment,"
        " with `payment_id` and `order_id` added to the query (check the payment through the API"
        " before shipping: anyone can open such a URL)",
        examples=["https://shop.example/orders/123/paid"],
    )

    @field_validator("callback_url")
    @classmethod
    def _callback_url_is_web(cls, value: str | None) -> str | None:
        if value is None:
            return None
        url = urlsplit(value)
        if url.scheme not in ("http", "https") or not url.hostname or value != value.strip():
            raise ValueError("callback_url must be an http or https URL")
        if any(c.isspace() or not c.isprintable() for c in value):
            raise ValueError("callback_url must be an http or https URL")
        return value

    @field_validator("amount")
    @classmethod
    def _amount_is_paise(cls, value: Any) -> int:
        # Money is an integer: reject floats, strings and booleans instead of coercing them.
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("amount must be an integer")
        if value > MAX_AMOUNT:
            raise ValueError(f"amount must be at most {MAX_AMOUNT}")
        return value

    @field_validator("currency")
    @classmethod
    def _currency_is_in_use(cls, value: str) -> str:
        if value not in IN_USE:
            raise ValueError("currency must be the ISO 4217 code of a currency in use, such as INR")
        return value

    @model_validator(mode="after")
    def _at_least_the_minimum_charge(self) -> "OrderCreate":
        minimum = minimum_charge(self.currency)
        if self.amount < minimum:
            raise ValueError(f"amount must be at least {minimum}")
        return self


class OrderInEvent(BaseModel):
    """An order as `order.*` events carry it."""

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


class OrderPublic(OrderInEvent):
    """An order as the merchant sees it: the event's fields and where the checkout returns."""

    callback_url: str | None = None


class OrdersPublic(BaseModel):
    data: list[OrderPublic]
    total: int | None = Field(description="Matching orders (offset paging; null with a cursor)")
    limit: int
    offset: int
    has_more: bool


class OrderCheckout(BaseModel):
    """`GET /api/v1/orders/{id}/public`: the contract's four fields, no more."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    amount: int
    currency: str
    status: str


class OrderHostedCheckout(OrderCheckout):
    """`GET /api/v1/orders/{id}/checkout`: what the hosted checkout page needs besides."""

    merchant_id: UUID = Field(description="Whose order: the checkout names the merchant")
    callback_url: str | None = Field(None, description="Where the customer returns after paying")


class OrderInternal(BaseModel):
    """Internal read model: what payments needs to charge an order."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    merchant_id: UUID
    amount: int
    currency: str
    status: str
