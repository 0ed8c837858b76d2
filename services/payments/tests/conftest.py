from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

import orders.main
import orders.settings
from kit.db import Database, init_connection
from payments import service
from payments.domain import Payment, ProcessingRules
from payments.main import create_app
from payments.settings import Settings

TEST_MERCHANT = "550e8400-e29b-41d4-a716-446655440000"
TEST_HEADERS = {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "secret_test_xyz789"}


@pytest.fixture
async def db(bound_db: Callable[[str], Awaitable[Database]]) -> Database:
    return await bound_db("payments")


@pytest.fixture
async def pooled_db(database_urls: dict[str, str]) -> AsyncIterator[Database]:
    """A real pool on the payments schema: work commits (for concurrency and API tests)."""
    pool = await asyncpg.create_pool(database_urls["payments"], init=init_connection, max_size=10)
    assert pool is not None
    yield Database(pool)
    await pool.close()


@pytest.fixture
async def orders_app(
    database_urls: dict[str, str], redis_url: str, merchants_app: Any
) -> AsyncIterator[Any]:
    settings = orders.settings.Settings(
        database_url=database_urls["orders"], redis_url=redis_url, merchants_url="http://merchants"
    )
    app = orders.main.create_app(settings, merchants_transport=httpx.ASGITransport(merchants_app))
    async with LifespanManager(app) as manager:
        yield manager.app


@pytest.fixture
async def orders_api(orders_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The real orders service, for creating orders and reading them back."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(orders_app), base_url="http://orders"
    ) as client:
        yield client


INSTANT = ProcessingRules(True, True, 0, 0.9, 0.95, 5000, 10000)
Process = Callable[..., Awaitable[dict[str, Payment]]]


@pytest.fixture
def process() -> Process:
    """`await process(db, *payment_ids, rules=INSTANT)`: the worker's claim, batch after batch,
    until those payments are completed or nothing due is left; every payment it completed."""

    async def run(db: Database, *payment_ids: str, rules: ProcessingRules = INSTANT) -> Any:
        done: dict[str, Payment] = {}
        while True:
            batch, _ = await service.process_due_payments(db, rules)
            done.update((p.id, p) for p in batch)
            if not batch or all(i in done for i in payment_ids):
                return done

    return run


MakeOrder = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def make_order(orders_api: httpx.AsyncClient) -> MakeOrder:
    async def create(amount: int = 50000, headers: dict[str, str] = TEST_HEADERS) -> dict[str, Any]:
        response = await orders_api.post("/api/v1/orders", json={"amount": amount}, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    return create


@pytest.fixture
def settings(database_urls: dict[str, str], redis_url: str) -> Settings:
    return Settings(
        database_url=database_urls["payments"],
        redis_url=redis_url,
        merchants_url="http://merchants",
        test_mode=True,
        test_processing_delay=0,
    )


@pytest.fixture
async def client(
    settings: Settings, merchants_app: Any, orders_app: Any
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        settings,
        merchants_transport=httpx.ASGITransport(merchants_app),
    )
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(manager.app), base_url="http://test") as c,
    ):
        yield c
