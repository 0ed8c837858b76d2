from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from redis.asyncio import Redis

from kit.db import Database
from merchants.main import create_app
from merchants.service import LoginThrottle
from merchants.settings import Settings

TEST_KEY = "key_test_abc123"
TEST_SECRET = "secret_test_xyz789"
TEST_HEADERS = {"X-Api-Key": TEST_KEY, "X-Api-Secret": TEST_SECRET}


@pytest.fixture
async def db(bound_db) -> Database:  # type: ignore[no-untyped-def]
    return await bound_db("merchants")  # type: ignore[no-any-return]


@pytest.fixture
async def throttle(redis_url: str) -> AsyncIterator[LoginThrottle]:
    redis = Redis.from_url(redis_url)
    yield LoginThrottle(redis, max_failures=10, window_seconds=900)
    await redis.aclose()


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
