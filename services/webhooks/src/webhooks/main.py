"""The webhooks service: merchant endpoints, signed deliveries and their logs."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from kit.app import create_service_app, open_resources
from kit.auth import MerchantsAuthenticator, internal_client
from webhooks import api
from webhooks.api.stream import StreamSlots
from webhooks.settings import Settings


def create_app(
    settings: Settings | None = None, merchants_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """`merchants_transport` lets tests call an in-process merchants app."""
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
                "streams": StreamSlots(
                    settings.event_streams_per_merchant, settings.event_streams_max
                ),
            }

    return create_service_app("webhooks", settings, lifespan, [api.router])
