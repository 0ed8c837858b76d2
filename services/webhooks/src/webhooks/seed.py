"""Seeds the contract's test merchant's endpoint (no URL, the contract's public secret); run by
`python -m kit.migrate webhooks`, idempotent. Not in production, where there is no test merchant.
"""

import os
from uuid import UUID

import asyncpg

from kit.ids import new_id
from webhooks import repository
from webhooks.domain import EndpointId

TEST_MERCHANT_ID = UUID("550e8400-e29b-41d4-a716-446655440000")
TEST_WEBHOOK_SECRET = "whsec_test_abc123"  # noqa: S105 - the contract's public test value


async def seed(conn: asyncpg.Connection) -> None:
    if os.environ.get("ENVIRONMENT", "dev") != "production":
        await repository.insert_default_endpoint(
            conn, TEST_MERCHANT_ID, EndpointId(new_id("ep_")), TEST_WEBHOOK_SECRET
        )
