"""Refunds and the refundable balance of a payment. No I/O."""

import random
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, NewType
from uuid import UUID

from kit.errors import InvalidRequest, NotFound
from kit.ids import new_id

RefundId = NewType("RefundId", str)


class RefundStatus(StrEnum):
    PENDING = "pending"
    PROCESSED = "processed"


class PaymentNotFound(NotFound):
    description = "Payment not found"


class RefundNotFound(NotFound):
    description = "Refund not found"


class PaymentNotRefundable(InvalidRequest):
    description = "Only successful payments can be refunded"


class RefundExceedsAvailable(InvalidRequest):
    description = "Refund amount exceeds available amount"


@dataclass(frozen=True)
class PaymentRef:
    """A payment as the payments service reports it."""

    id: str
    merchant_id: UUID
    amount: int
    currency: str
    status: str


@dataclass(frozen=True)
class Balance:
    payment_id: str
    merchant_id: UUID
    amount: int
    currency: str
    refunded: int  # pending + processed

    @property
    def available(self) -> int:
        return self.amount - self.refunded

    def reserve(self, amount: int) -> "Balance":
        """Take `amount` out of what is left, or refuse: the sum never exceeds the payment."""
        if amount > self.available:
            raise RefundExceedsAvailable()
        return replace(self, refunded=self.refunded + amount)


@dataclass(frozen=True)
class Refund:
    id: RefundId
    payment_id: str
    merchant_id: UUID
    amount: int
    currency: str
    reason: str | None
    status: RefundStatus
    created_at: datetime
    processed_at: datetime | None
    notes: dict[str, Any] = field(default_factory=dict)

    def process(self, at: datetime) -> "Refund":
        return replace(self, status=RefundStatus.PROCESSED, processed_at=at)


def new_refund_id() -> RefundId:
    return RefundId(new_id("rfnd_"))


@dataclass(frozen=True)
class RefundTiming:
    test_mode: bool
    test_delay_ms: int
    delay_min_ms: int
    delay_max_ms: int

    def delay_seconds(self, rng: random.Random) -> float:
        if self.test_mode:
            return self.test_delay_ms / 1000
        low, high = sorted((self.delay_min_ms, self.delay_max_ms))
        return rng.uniform(low, high) / 1000
