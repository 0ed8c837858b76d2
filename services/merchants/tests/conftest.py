from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from kit.db import Database
from merchants.main import create_app
from merchants.settings import Settings

TEST_KEY = "key_test_abc123"
TEST_SECRET = "secret_test_xyz789"
TEST_HEADERS = {"X-Api-Key": TEST_KEY, "X-Api-Secret": TEST_SECRET}


@pytest.fixture
async def db(bound_db) -> Database:  # type: ignore[no-untyped-def]
    return await bound_db("merchants")  # type: ignore[no-any-return]


@pytest.fixture
def settings(database_urls: dict[str, str], redis_url: str) -> Settings:
    return Settings(
        database_url=database_urls["merchants"], redis_url=redis_url, environment="test"
    )


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(manager.app), base_url="http://test") as c,
    ):
        yield c
