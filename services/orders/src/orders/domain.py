"""Orders: what a merchant asks its customer to pay. No I/O."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, NewType
from uuid import UUID

from kit.errors import NotFound
from kit.ids import new_id

OrderId = NewType("OrderId", str)

MIN_AMOUNT = 100  # paise
MAX_AMOUNT = 100_000_000_000  # ₹1,00,00,00,000: beyond any checkout, well inside bigint


class OrderStatus(StrEnum):
    CREATED = "created"
    PAID = "paid"


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


class OrderNotFound(NotFound):
    description = "Order not found"


def new_order_id() -> OrderId:
    return OrderId(new_id("order_"))
