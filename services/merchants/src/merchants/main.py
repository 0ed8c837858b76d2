"""The merchants service: merchants, API credentials and dashboard sessions."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from kit.app import create_service_app, open_resources
from kit.auth import Credentials, Principal
from kit.db import Database
from merchants import api, service
from merchants.settings import Settings


class LocalAuthenticator:
    """This service checks credentials against its own tables: no network hop."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def authenticate(self, credentials: Credentials) -> Principal | None:
        return await service.authenticate(self.db, credentials)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with open_resources(settings) as resources:
            yield {
                "db": resources.db,
                "redis": resources.redis,
                "settings": settings,
                "authenticator": LocalAuthenticator(resources.db),
                "login_throttle": service.LoginThrottle(
                    resources.redis,
                    settings.login_max_failures,
                    settings.login_failure_window_seconds,
                    settings.login_concurrent_checks,
                ),
            }

    return create_service_app(
        "merchants",
        settings,
        lifespan,
        [api.router],
        internal_routers=[api.internal],
        test_routers=[api.test_router],
    )
