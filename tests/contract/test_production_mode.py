"""ENVIRONMENT=production: no test routes and no usable test merchant."""

from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI

import merchants.main
import merchants.seed
import merchants.settings
import orders.main
import orders.settings
import payments.main
import payments.settings
import refunds.main
import refunds.settings
import webhooks.main
import webhooks.settings
from merchants.domain import TEST_MERCHANT_ID

APPS: dict[str, tuple[Callable[[Any], FastAPI], type[Any]]] = {
    "merchants": (merchants.main.create_app, merchants.settings.Settings),
    "orders": (orders.main.create_app, orders.settings.Settings),
    "payments": (payments.main.create_app, payments.settings.Settings),
    "refunds": (refunds.main.create_app, refunds.settings.Settings),
    "webhooks": (webhooks.main.create_app, webhooks.settings.Settings),
}


def paths(service: str, environment: str) -> set[str]:
    create_app, settings = APPS[service]
    url = f"postgresql://{service}:a-real-secret@pg.internal/payment_gateway"
    token = "k3Jd9-internal-token-of-forty-characters"
    app = create_app(
        settings(database_url=url, environment=environment, internal_token=token, rate_limits="on")
    )
    return set(app.openapi()["paths"])


@pytest.mark.parametrize("service", sorted(APPS))
def test_production_routes_no_test_endpoint(service: str) -> None:
    assert not {p for p in paths(service, "production") if p.startswith("/api/v1/test")}


def test_test_endpoints_exist_outside_production() -> None:
    assert "/api/v1/test/merchant" in paths("merchants", "dev")
    assert "/api/v1/test/jobs/status" in paths("payments", "dev")


async def test_production_seed_deactivates_the_test_merchant_and_never_creates_it(
    database_urls: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = await asyncpg.connect(database_urls["merchants"])
    transaction = conn.transaction()
    await transaction.start()
    try:
        monkeypatch.setenv("ENVIRONMENT", "production")
        await merchants.seed.seed(conn)
        active = "SELECT is_active FROM merchant WHERE id = $1"
        assert await conn.fetchval(active, TEST_MERCHANT_ID) is False

        await conn.execute("DELETE FROM dashboard_session WHERE merchant_id = $1", TEST_MERCHANT_ID)
        await conn.execute("DELETE FROM api_key WHERE merchant_id = $1", TEST_MERCHANT_ID)
        await conn.execute("DELETE FROM merchant WHERE id = $1", TEST_MERCHANT_ID)
        await merchants.seed.seed(conn)
        assert await conn.fetchval(active, TEST_MERCHANT_ID) is None

        monkeypatch.setenv("ENVIRONMENT", "dev")
        await merchants.seed.seed(conn)
        assert await conn.fetchval(active, TEST_MERCHANT_ID) is True
    finally:
        await transaction.rollback()
        await conn.close()
