"""Payments, their validation and their state machine. No I/O."""

import random
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any, NewType
from uuid import UUID

from kit.errors import Conflict, InvalidRequest, NotFound
from kit.ids import new_id

PaymentId = NewType("PaymentId", str)

# Used with fullmatch: `$` would let a trailing newline through.
VPA_PATTERN = re.compile(r"[a-zA-Z0-9._-]+@[a-zA-Z0-9]+")
ORDER_ID_PATTERN = re.compile(r"order_[A-Za-z0-9]{16}")
PAYMENT_FAILED = "PAYMENT_FAILED"
ORDER_ALREADY_PAID = "ORDER_ALREADY_PAID"  # another payment of the same order succeeded first

# Test mode: these VPAs and card numbers decide their own payment's outcome, whatever
# TEST_PAYMENT_SUCCESS says, so one test run sees a success and each decline side by side
# (docs/api.md, "Test outcomes"). Everything else keeps the contract's meaning.
SUCCEEDS = "success"
TEST_VPAS = {"success@test": SUCCEEDS, "failure@test": PAYMENT_FAILED}
TEST_CARDS = {
    "4000000000000077": SUCCEEDS,
    "4000000000000002": "CARD_DECLINED",
    "4000000000009995": "INSUFFICIENT_FUNDS",
    "4000000000000069": "EXPIRED_CARD",
}
FAILURE_REASONS = {
    PAYMENT_FAILED: "Payment processing failed",
    "CARD_DECLINED": "The card was declined",
    "INSUFFICIENT_FUNDS": "The card has insufficient funds",
    "EXPIRED_CARD": "The card has expired",
}


class PaymentStatus(StrEnum):
    PENDING = "pending"
    SUCCESS = "success"
    FAILED = "failed"


class PaymentMethod(StrEnum):
    UPI = "upi"
    CARD = "card"


class InvalidVpa(InvalidRequest):
    code = "INVALID_VPA"
    description = "VPA format invalid"


class InvalidCard(InvalidRequest):
    code = "INVALID_CARD"
    description = "Card validation failed"


class ExpiredCard(InvalidRequest):
    code = "EXPIRED_CARD"
    description = "Card expiry date invalid"


class UnsupportedMethod(InvalidRequest):
    description = "method must be one of: upi, card"


class PaymentNotFound(NotFound):
    description = "Payment not found"


class OrderNotFound(NotFound):
    description = "Order not found"


class OrderAlreadyPaid(InvalidRequest):
    description = "Order is already paid"


class TooManyPendingPayments(Conflict):
    description = "Order has too many payments in progress; wait for one to finish"


class PaymentNotCapturable(InvalidRequest):
    description = "Payment not in capturable state"


class CaptureAmountMismatch(InvalidRequest):
    description = "Capture amount must equal the payment amount"


@dataclass(frozen=True)
class OrderRef:
    """What payments needs of an order (read from the orders service; these never change)."""

    id: str
    merchant_id: UUID
    amount: int
    currency: str


@dataclass(frozen=True)
class CardInput:
    """As the customer typed it. Lives only in memory, never stored, logged or queued."""

    number: str
    expiry_month: str
    expiry_year: str
    cvv: str
    holder_name: str

    def __repr__(self) -> str:
        return "CardInput(<redacted>)"


@dataclass(frozen=True)
class CardSummary:
    network: str
    last4: str


@dataclass(frozen=True)
class Payment:
    id: PaymentId
    order_id: str
    merchant_id: UUID
    amount: int
    currency: str
    method: PaymentMethod
    status: PaymentStatus
    vpa: str | None
    card_network: str | None
    card_last4: str | None
    error_code: str | None
    error_description: str | None
    captured: bool
    captured_at: datetime | None
    amount_refunded: int
    created_at: datetime
    updated_at: datetime
    notes: dict[str, Any] = field(default_factory=dict)

    def complete(
        self, success: bool, at: datetime, reason: str | None = None, code: str = PAYMENT_FAILED
    ) -> "Payment":
        """pending → success | failed (the worker's decision)."""
        if self.status is not PaymentStatus.PENDING:
            raise ValueError(f"payment {self.id} is already {self.status}")
        if success:
            return replace(self, status=PaymentStatus.SUCCESS, updated_at=at)
        return replace(
            self,
            status=PaymentStatus.FAILED,
            error_code=code,
            error_description=reason or "Payment processing failed",
            updated_at=at,
        )

    def complete_as(self, outcome: str, at: datetime) -> "Payment":
        """pending → `SUCCEEDS`, or failed with a code of `FAILURE_REASONS`."""
        if outcome == SUCCEEDS:
            return self.complete(True, at)
        return self.complete(False, at, FAILURE_REASONS[outcome], outcome)

    def capture(self, amount: int | None, at: datetime) -> "Payment":
        """Only a successful, not yet captured payment, in full."""
        if self.status is not PaymentStatus.SUCCESS or self.captured:
            raise PaymentNotCapturable()
        if amount is not None and amount != self.amount:
            raise CaptureAmountMismatch()
        return replace(self, captured=True, captured_at=at, updated_at=at)


def new_payment_id() -> PaymentId:
    return PaymentId(new_id("pay_"))


def check_vpa(vpa: str | None) -> str:
    if vpa is None or not VPA_PATTERN.fullmatch(vpa):
        raise InvalidVpa()
    return vpa


def ascii_digits(text: str) -> bool:
    """Only `0`-`9`: `str.isdigit` also takes `²`, `٤` and full-width digits, which `int` then
    refuses or reads as another digit."""
    return text.isascii() and text.isdigit()


def card_digits(number: str) -> str:
    return number.replace(" ", "").replace("-", "")


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def card_network(digits: str) -> str:
    if digits.startswith("4"):
        return "visa"
    if digits[:2] in {"51", "52", "53", "54", "55"}:
        return "mastercard"
    if digits[:2] in {"34", "37"}:
        return "amex"
    if digits[:2] in {"60", "65"} or 81 <= int(digits[:2] or 0) <= 89:
        return "rupay"
    return "unknown"


def check_expiry(month: str, year: str, today: date) -> None:
    """Month 1 to 12; year `25` or `2025`; the current month is still valid."""
    month, year = month.strip(), year.strip()
    if not (ascii_digits(month) and ascii_digits(year)) or len(year) not in (2, 4):
        raise ExpiredCard()
    month_number, year_number = int(month), int(year)
    if len(year) == 2:
        year_number += 2000
    if not 1 <= month_number <= 12 or (year_number, month_number) < (today.year, today.month):
        raise ExpiredCard()


def summarize_card(card: CardInput, today: date) -> CardSummary:
    """Validate a card and keep only what may be stored: network and last four digits."""
    digits = card_digits(card.number)
    if not (ascii_digits(digits) and 13 <= len(digits) <= 19 and luhn_valid(digits)):
        raise InvalidCard()
    if not (ascii_digits(card.cvv) and len(card.cvv) in (3, 4)) or not card.holder_name.strip():
        raise InvalidCard()
    check_expiry(card.expiry_month, card.expiry_year, today)
    return CardSummary(card_network(digits), digits[-4:])


def test_outcome(vpa: str | None, card: CardInput | None) -> str | None:
    """The outcome a test VPA or card number asks for, None for any other."""
    if card is not None:
        return TEST_CARDS.get(card_digits(card.number))
    return TEST_VPAS.get(vpa or "")


def redacted_card(card: CardInput) -> dict[str, str]:
    """What the idempotency fingerprint may see of a card: no number, no CVV."""
    digits = card_digits(card.number)
    return {
        "last4": digits[-4:],
        "network": card_network(digits) if ascii_digits(digits) else "unknown",
        "expiry": f"{card.expiry_month}/{card.expiry_year}",
        "holder_name": card.holder_name,
    }


@dataclass(frozen=True)
class ProcessingRules:
    """A payment's processing delay and outcome: exact in test mode, random otherwise (the
    contract). `delay_for` and `outcome_for` draw from the payment's id, so deciding again
    (a worker that processes a payment after a lost commit) decides the same."""

    test_mode: bool
    test_payment_success: bool
    test_processing_delay_ms: int
    upi_success_rate: float
    card_success_rate: float
    delay_min_ms: int
    delay_max_ms: int

    def delay_seconds(self, rng: random.Random) -> float:
        if self.test_mode:
            return self.test_processing_delay_ms / 1000
        low, high = sorted((self.delay_min_ms, self.delay_max_ms))
        return rng.uniform(low, high) / 1000

    def succeeds(self, method: PaymentMethod, rng: random.Random) -> bool:
        if self.test_mode:
            return self.test_payment_success
        rate = self.upi_success_rate if method is PaymentMethod.UPI else self.card_success_rate
        return rng.random() < rate

    # Seeded from the payment on purpose: a simulated outcome must be reproducible, not secret.
    def delay_for(self, payment_id: str) -> float:
        return self.delay_seconds(random.Random(f"{payment_id}:delay"))  # noqa: S311

    def outcome_for(self, payment_id: str, method: PaymentMethod) -> bool:
        return self.succeeds(method, random.Random(f"{payment_id}:outcome"))  # noqa: S311

    def outcome(self, payment_id: str, method: PaymentMethod, asked: str | None) -> str:
        """`SUCCEEDS` or a failure code: in test mode what a test VPA or card asked for
        (`test_outcome`, kept at creation), else `outcome_for`."""
        if self.test_mode and asked:
            return asked
        return SUCCEEDS if self.outcome_for(payment_id, method) else PAYMENT_FAILED
