from dataclasses import replace
from datetime import UTC, datetime
from uuid import uuid4

from merchants.domain import (
    TEST_MERCHANT_ID,
    Merchant,
    MerchantId,
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
    password_hash=None,
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


def test_only_the_test_merchant_logs_in_without_a_password_and_only_in_a_test_setup() -> None:
    assert may_log_in(MERCHANT, "whatever", test_setup=True)
    assert not may_log_in(MERCHANT, "whatever", test_setup=False)
    other = replace(MERCHANT, id=MerchantId(uuid4()), email="shop@example.com")
    assert not may_log_in(other, "whatever", test_setup=True)
    assert not may_log_in(other, "", test_setup=True)


def test_merchant_with_password_needs_it_and_inactive_merchants_never_log_in() -> None:
    with_password = replace(MERCHANT, password_hash=hash_password("s3cret"))
    assert may_log_in(with_password, "s3cret", test_setup=False)
    assert not may_log_in(with_password, "wrong", test_setup=True)
    assert not may_log_in(replace(MERCHANT, is_active=False), "x", test_setup=True)
