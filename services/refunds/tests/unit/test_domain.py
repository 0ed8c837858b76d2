import random
from uuid import uuid4

import pytest
from pydantic import ValidationError

from refunds.domain import Balance, RefundExceedsAvailable, RefundTiming
from refunds.schemas import RefundCreate


def test_reserve_takes_from_what_is_left_and_never_more() -> None:
    balance = Balance("pay_1", uuid4(), 50000, "INR", 0)
    after = balance.reserve(40000)
    assert (after.refunded, after.available) == (40000, 10000)
    with pytest.raises(RefundExceedsAvailable):
        after.reserve(40000)  # a ₹500 payment must not allow two ₹400 refunds
    assert after.reserve(10000).available == 0
    with pytest.raises(RefundExceedsAvailable):
        after.reserve(10000).reserve(1)


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (0, "greater than 0"),
        (-5, "greater than 0"),
        (10.5, "an integer"),
        ("100", "an integer"),
        (True, "an integer"),
    ],
)
def test_amount_must_be_positive_whole_paise(amount: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RefundCreate.model_validate({"amount": amount})


def test_processing_delay_is_exact_in_test_mode_and_3_to_5_seconds_otherwise() -> None:
    rng = random.Random(3)
    assert RefundTiming(True, 250, 3000, 5000).delay_seconds(rng) == 0.25
    delays = [RefundTiming(False, 250, 3000, 5000).delay_seconds(rng) for _ in range(500)]
    assert min(delays) >= 3
    assert max(delays) <= 5
