from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from asgi_lifespan import LifespanManager

import merchants.main
import merchants.service
import merchants.settings
from kit.db import Database
from orders.main import create_app
from orders.settings import Settings


@pytest.fixture
async def db(bound_db: Callable[[str], Awaitable[Database]]) -> Database:
    return await bound_db("orders")


class CountingTransport(httpx.AsyncBaseTransport):
    """Passes requests to the real merchants app and counts them."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return await self.inner.handle_async_request(request)


@pytest.fixture
async def merchants_transport(
    database_urls: dict[str, str], redis_url: str
) -> AsyncIterator[CountingTransport]:
    """The real merchants service, in process, answering the orders service's auth calls."""
    settings = merchants.settings.Settings(
        database_url=database_urls["merchants"], redis_url=redis_url
    )
    app = merchants.main.create_app(settings)
    async with LifespanManager(app) as manager:
        yield CountingTransport(httpx.ASGITransport(manager.app))


@pytest.fixture
async def client(
    database_urls: dict[str, str], redis_url: str, merchants_transport: CountingTransport
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=database_urls["orders"], redis_url=redis_url, merchants_url="http://merchants"
    )
    app = create_app(settings, merchants_transport=merchants_transport)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(manager.app), base_url="http://test") as c,
    ):
        yield c
