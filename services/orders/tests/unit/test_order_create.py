import pytest
from pydantic import ValidationError

from orders.schemas import OrderCreate


def test_currency_defaults_to_inr_and_optional_fields_to_none() -> None:
    order = OrderCreate.model_validate({"amount": 100})
    assert (order.amount, order.currency, order.receipt, order.notes) == (100, "INR", None, None)


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (99, "amount must be at least 100"),
        (-5, "amount must be at least 100"),
        (500.0, "amount must be an integer"),
        ("500", "amount must be an integer"),
        (True, "amount must be an integer"),
        (None, "amount must be an integer"),
        (10**12, "amount must be at most 100000000000"),
    ],
)
def test_amount_must_be_whole_paise_of_at_least_100(amount: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        OrderCreate.model_validate({"amount": amount})


@pytest.mark.parametrize(
    ("currency", "least"),
    [("INR", 100), ("USD", 100), ("EUR", 100), ("JPY", 1), ("KWD", 1000)],
)
def test_each_currency_asks_for_at_least_one_major_unit(currency: str, least: int) -> None:
    assert OrderCreate.model_validate({"amount": least, "currency": currency}).amount == least
    with pytest.raises(ValidationError, match=rf"amount must be at least {least} \["):
        OrderCreate.model_validate({"amount": least - 1, "currency": currency})


@pytest.mark.parametrize("currency", ["XYZ", "ABC", "HRK", "XXX"])  # unknown, withdrawn, no money
def test_only_a_currency_in_use_is_accepted(currency: str) -> None:
    with pytest.raises(ValidationError, match="currency must be the ISO 4217 code of a currency"):
        OrderCreate.model_validate({"amount": 10_000, "currency": currency})


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 100, "currency": "inr"},
        {"amount": 100, "currency": "RUPEES"},
        {"amount": 100, "receipt": "r" * 256},
        {"amount": 100, "notes": {f"k{i}": "v" for i in range(16)}},
        {"amount": 100, "notes": {"k": "v" * 513}},
        {"amount": 100, "notes": {"k": {"nested": "object"}}},
        {"amount": 100, "surprise": 1},
    ],
)
def test_other_fields_are_bounded(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        OrderCreate.model_validate(body)
