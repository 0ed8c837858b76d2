import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from kit.db import Database, init_connection
from tests.receiver import Receiver, running_receiver
from webhooks.main import create_app
from webhooks.sender import Sender, outbound_session
from webhooks.settings import Settings
from webhooks.tasks import Dispatcher


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


@pytest.fixture
async def worker(settings: Settings, pooled_db: Database) -> AsyncIterator[Dispatcher]:
    """The webhooks worker's dispatcher, delivering what the API queues (test sends go from
    the worker, not the API). Other tests' pending deliveries are failed first, so it attempts
    only this test's."""
    async with pooled_db.transaction() as conn:
        await conn.execute("UPDATE delivery SET status = 'failed' WHERE status = 'pending'")
    async with outbound_session(settings.webhook_max_in_flight) as session:
        dispatcher = Dispatcher(pooled_db, Sender.of(session, settings), settings)
        running = asyncio.create_task(dispatcher.run())
        try:
            yield dispatcher
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
            await dispatcher.stop(drain_seconds=1)
