from dataclasses import replace
from datetime import UTC, datetime

from merchants.domain import (
    TEST_MERCHANT_ID,
    Merchant,
    generate_credentials,
    hash_password,
    hash_secret,
    may_log_in,
    password_matches,
    secret_matches,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
MERCHANT = Merchant(
    id=TEST_MERCHANT_ID,
    name="Test Merchant",
    email="test@example.com",
    api_key="key_test_abc123",
    api_secret_hash=hash_secret("secret_test_xyz789"),
    password_hash=None,
    webhook_secret="whsec_test_abc123",
    is_active=True,
    created_at=NOW,
    updated_at=NOW,
)


def test_secret_is_stored_as_a_hash_that_only_the_secret_matches() -> None:
    stored = hash_secret("secret_test_xyz789")
    assert "secret_test_xyz789" not in stored
    assert secret_matches("secret_test_xyz789", stored)
    assert not secret_matches("secret_test_xyz788", stored)


def test_generated_credentials_are_distinct_and_long() -> None:
    first, second = generate_credentials(), generate_credentials()
    assert first.api_key.startswith("key_")
    assert first.api_secret.startswith("secret_")
    assert len(first.api_secret) >= 40
    assert first != second


def test_password_hashes_are_salted() -> None:
    a, b = hash_password("hunter2"), hash_password("hunter2")
    assert a != b
    assert password_matches("hunter2", a)
    assert password_matches("hunter2", b)
    assert not password_matches("hunter3", a)


def test_merchant_without_password_logs_in_with_anything_unless_passwords_are_required() -> None:
    assert may_log_in(MERCHANT, "whatever", require_password=False)
    assert not may_log_in(MERCHANT, "whatever", require_password=True)


def test_merchant_with_password_needs_it_and_inactive_merchants_never_log_in() -> None:
    with_password = replace(MERCHANT, password_hash=hash_password("s3cret"))
    assert may_log_in(with_password, "s3cret", require_password=True)
    assert not may_log_in(with_password, "wrong", require_password=False)
    assert not may_log_in(replace(MERCHANT, is_active=False), "x", require_password=False)
