import pytest

from ui.formats import indian_grouping, rupees, timestamp


@pytest.mark.parametrize(
    ("whole", "text"),
    [
        (0, "0"),
        (999, "999"),
        (1000, "1,000"),
        (100000, "1,00,000"),
        (500000, "5,00,000"),
        (12345678, "1,23,45,678"),
        (-4500, "-4,500"),
    ],
)
def test_indian_digit_grouping(whole: int, text: str) -> None:
    assert indian_grouping(whole) == text


def test_rupees_from_paise() -> None:
    assert rupees(50000) == "₹500.00"
    assert rupees(50000000, decimals=False) == "₹5,00,000"
    assert rupees(12345, decimals=False) == "₹123.45"  # paise are never hidden


def test_timestamps_read_like_the_spec() -> None:
    assert timestamp("2024-01-15T10:31:00Z") == "2024-01-15 10:31:00"
    assert timestamp(None) == "—"
