"""The refunds service: partial and repeated refunds that never over-refund."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from kit.app import create_service_app, open_resources
from kit.auth import MerchantsAuthenticator, internal_client
from refunds import api
from refunds.clients import PaymentsClient
from refunds.settings import Settings


def create_app(
    settings: Settings | None = None,
    merchants_transport: httpx.AsyncBaseTransport | None = None,
    payments_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The transports let tests call in-process merchants and payments apps."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        token = settings.internal_token
        async with (
            open_resources(settings) as resources,
            internal_client(settings.merchants_url, token, merchants_transport) as merchants,
            internal_client(settings.payments_url, token, payments_transport) as payments,
        ):
            yield {
                "db": resources.db,
                "redis": resources.redis,
                "settings": settings,
                "authenticator": MerchantsAuthenticator(merchants, settings.auth_cache_ttl_seconds),
                "payments": PaymentsClient(payments),
            }

    return create_service_app("refunds", settings, lifespan, [api.router])
