import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from kit.db import Database, init_connection
from refunds import repository
from refunds.domain import PaymentRef
from refunds.main import create_app
from refunds.settings import Settings

TEST_MERCHANT = UUID("550e8400-e29b-41d4-a716-446655440000")


@pytest.fixture
async def db(bound_db: Callable[[str], Awaitable[Database]]) -> Database:
    return await bound_db("refunds")


@pytest.fixture
async def pooled_db(database_urls: dict[str, str]) -> AsyncIterator[Database]:
    pool = await asyncpg.create_pool(database_urls["refunds"], init=init_connection, max_size=10)
    assert pool is not None
    yield Database(pool)
    await pool.close()


SuccessfulPayment = Callable[..., Awaitable[str]]


@pytest.fixture
def successful_payment(pooled_db: Database) -> SuccessfulPayment:
    """A successful payment's balance, as its first refund starts it from payments' answer."""

    async def make(amount: int = 50000, merchant: UUID = TEST_MERCHANT) -> str:
        payment_id = "pay_" + secrets.token_hex(8)
        async with pooled_db.transaction() as conn:
            await repository.save_balance(
                conn, PaymentRef(payment_id, merchant, amount, "INR", "success")
            )
        return payment_id

    return make


@pytest.fixture
async def client(
    database_urls: dict[str, str], redis_url: str, merchants_app: Any
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=database_urls["refunds"],
        redis_url=redis_url,
        merchants_url="http://merchants",
        payments_url="http://127.0.0.1:1",  # balances come from events in these tests
    )
    app = create_app(settings, merchants_transport=httpx.ASGITransport(merchants_app))
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(manager.app), base_url="http://test") as c,
    ):
        yield c
