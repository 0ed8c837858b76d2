"""The payments service: payments, their processing and capture."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from kit.app import create_service_app, open_resources
from kit.auth import MerchantsAuthenticator
from payments import api
from payments.clients import OrdersClient
from payments.settings import Settings


def create_app(
    settings: Settings | None = None,
    merchants_transport: httpx.AsyncBaseTransport | None = None,
    orders_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The transports let tests call in-process merchants and orders apps."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with (
            open_resources(settings) as resources,
            httpx.AsyncClient(
                base_url=settings.merchants_url, transport=merchants_transport, timeout=5
            ) as merchants,
            httpx.AsyncClient(
                base_url=settings.orders_url, transport=orders_transport, timeout=5
            ) as orders,
        ):
            yield {
                "db": resources.db,
                "redis": resources.redis,
                "settings": settings,
                "authenticator": MerchantsAuthenticator(merchants, settings.auth_cache_ttl_seconds),
                "orders": OrdersClient(orders),
            }

    return create_service_app(
        "payments", settings, lifespan, [api.router, api.internal], test_routers=[api.test_router]
    )
