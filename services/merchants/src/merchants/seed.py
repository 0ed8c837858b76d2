"""Seeds the contract's test merchant; run by `python -m kit.migrate merchants`, idempotent."""

import asyncpg

from merchants import repository
from merchants.domain import TEST_MERCHANT_ID, TEST_MERCHANT_NAME, TEST_WEBHOOK_SECRET, hash_secret
from merchants.settings import TestMerchantSettings


async def seed(conn: asyncpg.Connection) -> None:
    """Insert the test merchant unless its email (or id) already exists."""
    settings = TestMerchantSettings()
    await repository.insert_merchant(
        conn,
        merchant_id=TEST_MERCHANT_ID,
        name=TEST_MERCHANT_NAME,
        email=settings.test_merchant_email,
        api_key=settings.test_api_key,
        api_secret_hash=hash_secret(settings.test_api_secret.get_secret_value()),
        password_hash=None,
        webhook_secret=TEST_WEBHOOK_SECRET,
    )
