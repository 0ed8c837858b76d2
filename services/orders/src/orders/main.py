"""The orders service: orders and their checkout view."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from kit.app import create_service_app, open_resources
from kit.auth import MerchantsAuthenticator, internal_client
from orders import api
from orders.settings import Settings


def create_app(
    settings: Settings | None = None, merchants_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """`merchants_transport` lets tests call an in-process merchants app instead of the network."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        token = settings.internal_token
        async with (
            open_resources(settings) as resources,
            internal_client(settings.merchants_url, token, merchants_transport) as merchants,
        ):
            yield {
                "db": resources.db,
                "redis": resources.redis,
                "settings": settings,
                "authenticator": MerchantsAuthenticator(merchants, settings.auth_cache_ttl_seconds),
            }

    return create_service_app(
        "orders", settings, lifespan, [api.router], internal_routers=[api.internal]
    )
