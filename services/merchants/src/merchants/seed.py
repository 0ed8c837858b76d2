"""Seeds the contract's test merchant; run by `python -m kit.migrate merchants`, idempotent.

In production there is no test merchant: its credentials are public, so one left over from an
earlier non-production run is deactivated instead."""

import logging

import asyncpg

from merchants import repository
from merchants.domain import TEST_MERCHANT_ID, TEST_MERCHANT_NAME, hash_secret
from merchants.settings import TestMerchantSettings

log = logging.getLogger(__name__)


async def seed(conn: asyncpg.Connection) -> None:
    """Insert the test merchant unless its email (or id) already exists."""
    settings = TestMerchantSettings()
    if settings.environment == "production":
        if await repository.deactivate_merchant(conn, TEST_MERCHANT_ID):
            log.warning("production: deactivated the test merchant (its credentials are public)")
        return
    await repository.insert_merchant(
        conn,
        merchant_id=TEST_MERCHANT_ID,
        name=TEST_MERCHANT_NAME,
        email=settings.test_merchant_email,
        password_hash=None,
    )
    if await repository.get_merchant(conn, TEST_MERCHANT_ID) is None:
        return  # its email belongs to another merchant: nothing to seed
    secret_hash = hash_secret(settings.test_api_secret.get_secret_value())
    await repository.insert_key(conn, TEST_MERCHANT_ID, settings.test_api_key, secret_hash, "Test")
