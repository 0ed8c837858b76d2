"""Test session plumbing: real Postgres and Redis, started once per run and isolated per test."""

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from asgi_lifespan import LifespanManager

import merchants.main
import merchants.service
import merchants.settings
from devstack.provision import provision, with_credentials_of_admin
from devstack.servers import throwaway_servers
from devstack.stack import DB_PASSWORD
from kit.db import Database, init_connection
from kit.migrate import run as migrate

# Thousands of requests from one address in minutes: rate limits are tested where they are
# asked for (`rate_limits="on"`), not left to trip unrelated tests. Stacks inherit this.
os.environ.setdefault("RATE_LIMITS", "off")
# Every process must be told where it runs (kit.settings.NO_ENVIRONMENT); tests run as "test".
os.environ.setdefault("ENVIRONMENT", "test")

SERVICES = ["merchants", "orders", "payments", "refunds", "webhooks"]
SCRATCH = "kit_scratch"  # a schema for kit's own tests (outbox, inbox, migrations)


@pytest.fixture(scope="session")
def servers() -> Iterator[tuple[str, str]]:
    """(postgres admin url, redis url): DATABASE_URL / REDIS_URL if set, else embedded servers."""
    with throwaway_servers() as urls:
        yield urls


@pytest.fixture(scope="session")
def admin_url(servers: tuple[str, str]) -> str:
    return servers[0]


@pytest.fixture(scope="session")
def redis_url(servers: tuple[str, str]) -> str:
    return servers[1]


@pytest.fixture(scope="session")
def test_database() -> str:
    return f"gw_test_{secrets.token_hex(4)}"


@pytest.fixture(scope="session")
def database_admin_url(admin_url: str, test_database: str, database_urls: dict[str, str]) -> str:
    """Superuser access to this run's database (for tests that must create schemas)."""
    return with_credentials_of_admin(admin_url, test_database)


@pytest.fixture(scope="session")
def database_urls(admin_url: str, test_database: str) -> dict[str, str]:
    """A fresh database for this run: one role and schema per service, migrated and seeded."""
    database = test_database

    async def prepare() -> dict[str, str]:
        urls = await provision(admin_url, database, [*SERVICES, SCRATCH], DB_PASSWORD)
        for service in SERVICES:
            await migrate(service, urls[service])
        return urls

    return asyncio.run(prepare())


BoundDb = Callable[[str], Awaitable[Database]]


@pytest.fixture
async def bound_db(database_urls: dict[str, str]) -> AsyncIterator[BoundDb]:
    """`await bound_db("orders")`: a Database on one connection whose work is rolled back."""
    opened: list[tuple[asyncpg.Connection, asyncpg.transaction.Transaction]] = []

    async def open_db(service: str) -> Database:
        conn = await asyncpg.connect(database_urls[service])
        await init_connection(conn)
        transaction = conn.transaction()
        await transaction.start()
        opened.append((conn, transaction))
        return Database.bound(conn)

    yield open_db
    for conn, transaction in opened:
        await transaction.rollback()
        await conn.close()


@pytest.fixture
async def merchants_app(database_urls: dict[str, str], redis_url: str) -> AsyncIterator[Any]:
    """The real merchants service, in process (other services' API tests authenticate with it)."""
    settings = merchants.settings.Settings(
        database_url=database_urls["merchants"], redis_url=redis_url
    )
    async with LifespanManager(merchants.main.create_app(settings)) as manager:
        yield manager.app


@pytest.fixture
async def other_merchant_account(database_urls: dict[str, str]) -> tuple[UUID, dict[str, str]]:
    """A second merchant, onboarded through the merchants service: its id and API headers."""
    pool = await asyncpg.create_pool(database_urls["merchants"], init=init_connection)
    assert pool is not None
    try:
        merchant, creds = await merchants.service.create_merchant(
            Database(pool), "Other Shop", f"other-{secrets.token_hex(4)}@example.com", None
        )
    finally:
        await pool.close()
    return merchant.id, {"X-Api-Key": creds.api_key, "X-Api-Secret": creds.api_secret}


@pytest.fixture
def other_merchant(other_merchant_account: tuple[UUID, dict[str, str]]) -> dict[str, str]:
    """API headers of a second merchant."""
    return other_merchant_account[1]
