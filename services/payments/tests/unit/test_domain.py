import random
from dataclasses import replace
from datetime import UTC, date, datetime
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payments.domain import (
    CaptureAmountMismatch,
    CardInput,
    ExpiredCard,
    InvalidCard,
    InvalidVpa,
    Payment,
    PaymentId,
    PaymentMethod,
    PaymentNotCapturable,
    PaymentStatus,
    ProcessingRules,
    card_network,
    check_expiry,
    check_vpa,
    luhn_valid,
    redacted_card,
    summarize_card,
)

TODAY = date(2026, 11, 26)
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def card(
    number: str = "4111111111111111", month: str = "12", year: str = "2030", cvv: str = "123"
) -> CardInput:
    return CardInput(number, month, year, cvv, "John Doe")


@pytest.mark.parametrize("vpa", ["user@paytm", "john.doe@okhdfcbank", "user_123@phonepe", "a-b@x1"])
def test_valid_vpas(vpa: str) -> None:
    assert check_vpa(vpa) == vpa


@pytest.mark.parametrize(
    "vpa", ["user @paytm", "@paytm", "user@@bank", "user@", "user@pay.tm", "", None]
)
def test_invalid_vpas(vpa: str | None) -> None:
    with pytest.raises(InvalidVpa):
        check_vpa(vpa)


@pytest.mark.parametrize(
    "number",
    [
        "4111111111111111",
        "5555555555554444",
        "378282246310005",
        "6011111111111117",
        "4012888888881881",
    ],
)
def test_luhn_accepts_known_test_numbers(number: str) -> None:
    assert luhn_valid(number)


@pytest.mark.parametrize("number", ["4111111111111112", "1234567812345678", "378282246310006"])
def test_luhn_rejects_a_wrong_check_digit(number: str) -> None:
    assert not luhn_valid(number)


@pytest.mark.parametrize(
    ("digits", "network"),
    [
        ("4111111111111111", "visa"),
        ("5105105105105100", "mastercard"),
        ("5555555555554444", "mastercard"),
        ("378282246310005", "amex"),
        ("341111111111111", "amex"),
        ("6011111111111117", "rupay"),
        ("6500000000000002", "rupay"),
        ("8100000000000000", "rupay"),
        ("8999999999999999", "rupay"),
        ("5600000000000000", "unknown"),
        ("3530111333300000", "unknown"),
        ("9000000000000000", "unknown"),
    ],
)
def test_network_by_prefix(digits: str, network: str) -> None:
    assert card_network(digits) == network


def test_card_is_reduced_to_network_and_last_four_after_stripping() -> None:
    summary = summarize_card(card("4111 1111-1111 1111"), TODAY)
    assert (summary.network, summary.last4) == ("visa", "1111")


@pytest.mark.parametrize(
    "number",
    ["4111111111111112", "411111111111", "41111111111111111111", "4111x11111111111", "", "0" * 12],
)
def test_bad_numbers_are_invalid_card(number: str) -> None:
    with pytest.raises(InvalidCard):
        summarize_card(card(number), TODAY)


@pytest.mark.parametrize("cvv", ["12", "12345", "abc", ""])
def test_bad_cvv_is_invalid_card(cvv: str) -> None:
    with pytest.raises(InvalidCard):
        summarize_card(card(cvv=cvv), TODAY)


@pytest.mark.parametrize(
    ("month", "year"), [("11", "2026"), ("11", "26"), ("1", "2027"), ("12", "30"), ("01", "2099")]
)
def test_current_month_and_later_are_valid(month: str, year: str) -> None:
    check_expiry(month, year, TODAY)


@pytest.mark.parametrize(
    ("month", "year"),
    [
        ("10", "2026"),
        ("12", "2025"),
        ("0", "2030"),
        ("13", "2030"),
        ("12", "203"),
        ("ab", "2030"),
        ("12", ""),
    ],
)
def test_past_or_malformed_expiry_is_expired_card(month: str, year: str) -> None:
    with pytest.raises(ExpiredCard):
        check_expiry(month, year, TODAY)


def test_fingerprint_view_of_a_card_has_no_number_or_cvv() -> None:
    view = redacted_card(card("4111111111111111", cvv="987"))
    assert "4111111111111111" not in str(view)
    assert "987" not in str(view)
    assert view["last4"] == "1111"


def test_card_input_never_prints_its_number() -> None:
    assert "4111" not in repr(card())


def rules(**overrides: object) -> ProcessingRules:
    base = ProcessingRules(
        test_mode=False,
        test_payment_success=True,
        test_processing_delay_ms=1000,
        upi_success_rate=0.9,
        card_success_rate=0.95,
        delay_min_ms=5000,
        delay_max_ms=10000,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def test_test_mode_is_exact() -> None:
    rng = random.Random(1)
    assert rules(test_mode=True, test_processing_delay_ms=250).delay_seconds(rng) == 0.25
    assert (
        rules(test_mode=True, test_payment_success=False).succeeds(PaymentMethod.UPI, rng) is False
    )
    assert rules(test_mode=True).succeeds(PaymentMethod.CARD, rng) is True


def test_live_mode_delays_5_to_10_seconds_and_succeeds_at_the_configured_rates() -> None:
    rng = random.Random(7)
    delays = [rules().delay_seconds(rng) for _ in range(1000)]
    assert min(delays) >= 5
    assert max(delays) <= 10
    upi = sum(rules().succeeds(PaymentMethod.UPI, rng) for _ in range(20_000)) / 20_000
    cards = sum(rules().succeeds(PaymentMethod.CARD, rng) for _ in range(20_000)) / 20_000
    assert upi == pytest.approx(0.90, abs=0.01)
    assert cards == pytest.approx(0.95, abs=0.01)


def payment(**overrides: object) -> Payment:
    base = Payment(
        id=PaymentId("pay_0000000000000000"),
        order_id="order_0000000000000000",
        merchant_id=uuid4(),
        amount=50000,
        currency="INR",
        method=PaymentMethod.UPI,
        status=PaymentStatus.PENDING,
        vpa="user@paytm",
        card_network=None,
        card_last4=None,
        error_code=None,
        error_description=None,
        captured=False,
        captured_at=None,
        amount_refunded=0,
        created_at=NOW,
        updated_at=NOW,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def test_pending_payment_completes_once() -> None:
    failed = payment().complete(False, NOW)
    assert (failed.status, failed.error_code) == (PaymentStatus.FAILED, "PAYMENT_FAILED")
    assert payment().complete(True, NOW).status is PaymentStatus.SUCCESS
    with pytest.raises(ValueError, match="already"):
        failed.complete(True, NOW)


def test_capture_only_a_successful_payment_once_and_in_full() -> None:
    succeeded = payment(status=PaymentStatus.SUCCESS)
    captured = succeeded.capture(50000, NOW)
    assert captured.captured is True
    assert succeeded.capture(None, NOW).captured is True
    with pytest.raises(PaymentNotCapturable):
        captured.capture(None, NOW)
    with pytest.raises(PaymentNotCapturable):
        payment().capture(None, NOW)
    with pytest.raises(PaymentNotCapturable):
        payment(status=PaymentStatus.FAILED).capture(None, NOW)
    with pytest.raises(CaptureAmountMismatch):
        succeeded.capture(100, NOW)


def test_a_payments_delay_and_outcome_are_decided_from_the_payment_alone() -> None:
    live = rules()
    ids = [f"pay_{n:016d}" for n in range(200)]
    first = [(live.delay_for(i), live.outcome_for(i, PaymentMethod.UPI)) for i in ids]
    assert first == [(live.delay_for(i), live.outcome_for(i, PaymentMethod.UPI)) for i in ids]
    assert all(5 <= delay <= 10 for delay, _ in first)
    successes = sum(ok for _, ok in first)
    assert 160 <= successes < 200  # about 90 %, and some fail: the outcome is not fixed
    delays = {delay for delay, _ in first}
    assert len(delays) > 100  # spread across the window, not one value


# Any character Unicode calls a digit or number (`²`, `٤`, full-width, `Ⅻ`) among ASCII ones.
NUMERALS = st.text(
    alphabet=st.one_of(st.characters(categories=["Nd", "No", "Nl"]), st.sampled_from("0123456789")),
    min_size=1,
    max_size=20,
)


@given(number=NUMERALS, month=NUMERALS, year=NUMERALS, cvv=NUMERALS)
@settings(max_examples=300, database=None, derandomize=True)
def test_a_card_in_any_numerals_is_refused_or_kept_as_ascii(
    number: str, month: str, year: str, cvv: str
) -> None:
    given_card = card(number, month, year, cvv)
    view = redacted_card(given_card)  # the idempotency fingerprint, taken before validation
    assert view["network"] in {"visa", "mastercard", "amex", "rupay", "unknown"}
    try:
        summary = summarize_card(given_card, TODAY)
    except (InvalidCard, ExpiredCard):
        return
    assert all(f.isascii() and f.isdigit() for f in (number, month, year, cvv)), summary
    assert summary.last4.isascii()
