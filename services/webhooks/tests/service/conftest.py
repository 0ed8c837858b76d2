"""What the service tests share: a sender allowed to reach loopback, a merchant of their own,
and a view with no other test's due deliveries."""

from collections.abc import AsyncIterator
from uuid import UUID, uuid4

import pytest

from kit.db import Database
from webhooks.domain import parse_networks
from webhooks.sender import Sender, outbound_session
from webhooks.settings import Settings


@pytest.fixture
async def sender() -> AsyncIterator[Sender]:
    """The production outbound pool (no redirects, bounded), allowed to reach loopback."""
    async with outbound_session(
        Settings(database_url="postgresql://unused").webhook_max_in_flight
    ) as client:
        yield Sender(client, parse_networks(["127.0.0.0/8"]), timeout=5)


@pytest.fixture
async def clean(db: Database) -> Database:
    """This test's transaction sees no due deliveries but its own."""
    async with db.transaction() as conn:
        await conn.execute("UPDATE delivery SET status = 'failed' WHERE status = 'pending'")
    return db


@pytest.fixture
def merchant() -> UUID:
    return uuid4()
