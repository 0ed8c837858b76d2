from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from kit.db import Database, init_connection
from tests.receiver import Receiver, running_receiver
from webhooks.main import create_app
from webhooks.settings import Settings


@pytest.fixture
async def db(bound_db: Callable[[str], Awaitable[Database]]) -> Database:
    return await bound_db("webhooks")


@pytest.fixture
async def pooled_db(database_urls: dict[str, str]) -> AsyncIterator[Database]:
    pool = await asyncpg.create_pool(database_urls["webhooks"], init=init_connection)
    assert pool is not None
    yield Database(pool)
    await pool.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def settings(database_urls: dict[str, str], redis_url: str) -> Settings:
    return Settings(
        database_url=database_urls["webhooks"],
        redis_url=redis_url,
        merchants_url="http://merchants",
        webhook_retry_intervals_test=True,
        webhook_allowed_networks=["127.0.0.0/8"],
    )


@pytest.fixture
async def client(settings: Settings, merchants_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, merchants_transport=httpx.ASGITransport(merchants_app))
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(manager.app), base_url="http://test") as c,
    ):
        yield c
