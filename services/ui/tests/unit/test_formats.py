import pytest

from ui.formats import minor_units, money, timestamp, timestamp_tz


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (50000, "INR", "₹500.00"),
        (0, "INR", "₹0.00"),
        (12345678900, "INR", "₹12,34,56,789.00"),  # Indian digit grouping
        (-450000, "INR", "-₹4,500.00"),
        (123450, "USD", "$1,234.50"),
        (1234, "JPY", "JP¥1,234"),  # no minor unit
        (1234, "KWD", "KWD1.234"),  # three decimals
    ],
)
def test_money_by_currency(minor: int, currency: str, text: str) -> None:
    assert money(minor, currency) == text


def test_whole_amounts_can_drop_their_zeros_but_never_a_fraction() -> None:
    assert money(50000000, decimals=False) == "₹5,00,000"  # the contract's total amount
    assert money(50000, decimals=False) == "₹500"  # the contract's "Pay ₹500"
    assert money(12345, decimals=False) == "₹123.45"
    assert money(100000, "USD", decimals=False) == "$1,000"


def test_minor_units_are_named() -> None:
    assert minor_units("INR") == "paise"
    assert minor_units("USD") == "USD minor units"


def test_timestamps_read_like_the_spec_in_utc() -> None:
    assert timestamp("2024-01-15T10:31:00Z") == "2024-01-15 10:31:00"
    assert timestamp("2024-01-15T16:01:00+05:30") == "2024-01-15 10:31:00"
    assert timestamp(None) == "—"
    assert timestamp_tz("2024-01-15T10:31:00Z") == "2024-01-15 10:31:00 UTC"
    assert timestamp_tz(None) == "—"
