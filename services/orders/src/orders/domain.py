"""Orders: what a merchant asks its customer to pay. No I/O."""

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, NewType
from uuid import UUID

from kit.errors import InvalidRequest, NotFound
from kit.ids import new_id

OrderId = NewType("OrderId", str)

MAX_AMOUNT = 100_000_000_000  # ₹1,00,00,00,000: beyond any checkout, well inside bigint
MAX_CALLBACK_URL = 2048


class OrderStatus(StrEnum):
    """created → attempted (a payment was made) → paid (a payment succeeded); never backwards."""

    CREATED = "created"
    ATTEMPTED = "attempted"
    PAID = "paid"

    @property
    def rank(self) -> int:
        return list(OrderStatus).index(self)


@dataclass(frozen=True)
class Order:
    id: OrderId
    merchant_id: UUID
    amount: int
    currency: str
    receipt: str | None
    notes: dict[str, Any] | None
    status: OrderStatus
    created_at: datetime
    updated_at: datetime
    # Where the hosted checkout sends the customer after a successful payment.
    callback_url: str | None = None

    def advance(self, status: OrderStatus) -> "Order":
        """Move forward to `status`; events may arrive out of order, so never move back."""
        if status.rank <= self.status.rank:
            return self
        return replace(self, status=status)


class OrderNotFound(NotFound):
    description = "Order not found"


class CurrencyNotEnabled(InvalidRequest):
    def __init__(self, currency: str) -> None:
        super().__init__(f"currency {currency} is not enabled for this merchant")


def new_order_id() -> OrderId:
    return OrderId(new_id("order_"))
