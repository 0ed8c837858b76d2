"""The payments service: payments, their processing and capture."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from kit.app import create_service_app, open_resources
from kit.auth import MerchantsAuthenticator, internal_client
from payments import api
from payments.settings import Settings


def create_app(
    settings: Settings | None = None,
    merchants_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The transport lets tests call an in-process merchants app."""
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
                "rules": settings.processing_rules(),
            }

    return create_service_app(
        "payments",
        settings,
        lifespan,
        [api.router],
        internal_routers=[api.internal],
        test_routers=[api.test_router],
    )
